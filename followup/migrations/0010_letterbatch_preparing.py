# The letter batch is made at once in state "preparing"; "empty" when nothing was due for the post.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('followup', '0009_letter_one_per_appointment_and_guardian'),
    ]

    operations = [
        migrations.AlterField(
            model_name='letterbatch',
            name='state',
            field=models.CharField(choices=[('preparing', 'Forberedes'), ('running', 'Lages'), ('merging', 'Setter sammen utskriftsfil'), ('ready', 'Klar til utskrift'), ('sent', 'Sendt'), ('empty', 'Ingen brev til utskrift')], default='running', max_length=10, verbose_name='status'),
        ),
    ]
