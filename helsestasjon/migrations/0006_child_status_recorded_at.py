import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("helsestasjon", "0005_register_person_id_text")]

    operations = [
        migrations.AddField(
            model_name="child",
            name="status_recorded_at",
            field=models.DateTimeField(default=django.utils.timezone.now, verbose_name="status registrert"),
        ),
        # Until now the status date was the time the journal learnt of the change.
        migrations.RunSQL(
            "UPDATE helsestasjon_child SET status_recorded_at = status_changed_at",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
