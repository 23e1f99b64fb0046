"""Register person ids are opaque strings of up to 64 characters (Persontjenesten's
OpenAPI document; its example is 64 hex characters), not UUIDs: stored as text.
Existing UUIDs keep their canonical text form (``uuid::text``)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("helsestasjon", "0004_sign_in_append_only"),
    ]

    operations = [
        migrations.AlterField(
            model_name="child",
            name="register_person_id",
            field=models.CharField(blank=True, max_length=64, null=True, unique=True, verbose_name="register-ID"),
        ),
        migrations.AlterField(
            model_name="guardian",
            name="register_person_id",
            field=models.CharField(blank=True, max_length=64, null=True, unique=True, verbose_name="register-ID"),
        ),
    ]
