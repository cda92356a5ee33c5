
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('conversations', '0003_message_tree'),
    ]

    operations = [
        migrations.AddField(
            model_name='conversation',
            name='source',
            field=models.CharField(choices=[('web', 'web'), ('api', 'API'), ('v1', 'OpenAI-compatible API')], db_index=True, default='web', max_length=8, verbose_name='source'),
        ),
    ]
