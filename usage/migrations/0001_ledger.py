
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='DailyUsage',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField(verbose_name='day')),
                ('tokens', models.PositiveBigIntegerField(default=0, verbose_name='tokens')),
                ('reserved_tokens', models.PositiveBigIntegerField(default=0, verbose_name='reserved tokens')),
                ('images', models.PositiveIntegerField(default=0, verbose_name='images')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='daily_usage', to=settings.AUTH_USER_MODEL, verbose_name='user')),
            ],
            options={
                'verbose_name': 'daily usage',
                'verbose_name_plural': 'daily usage',
                'ordering': ['-day'],
                'constraints': [models.UniqueConstraint(fields=('user', 'day'), name='daily_usage_unique_day'), models.CheckConstraint(condition=models.Q(('tokens__gte', 0)), name='daily_usage_tokens_gte_0')],
            },
        ),
        migrations.CreateModel(
            name='UsageRecord',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField(verbose_name='day')),
                ('model', models.CharField(blank=True, max_length=100, verbose_name='model')),
                ('kind', models.CharField(choices=[('chat', 'chat'), ('analyze', 'analysis'), ('image', 'image'), ('search', 'search')], max_length=16, verbose_name='kind')),
                ('prompt_tokens', models.PositiveBigIntegerField(default=0, verbose_name='prompt tokens')),
                ('completion_tokens', models.PositiveBigIntegerField(default=0, verbose_name='completion tokens')),
                ('estimated_tokens', models.PositiveBigIntegerField(default=0, verbose_name='estimated tokens')),
                ('calls', models.PositiveIntegerField(default=0, verbose_name='calls')),
                ('user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='usage_records', to=settings.AUTH_USER_MODEL, verbose_name='user')),
            ],
            options={
                'verbose_name': 'usage record',
                'verbose_name_plural': 'usage records',
                'ordering': ['-day', 'model', 'kind'],
                'indexes': [models.Index(fields=['day'], name='usage_record_day')],
                'constraints': [models.UniqueConstraint(fields=('user', 'day', 'model', 'kind'), name='usage_record_unique_row')],
            },
        ),
    ]
