from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("meters", "0006_rollups"),
    ]

    operations = [
        migrations.AddField(
            model_name="unit",
            name="queued_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
