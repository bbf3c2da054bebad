"""Create or reset the local demo login and print its credentials (DEBUG only).

`make run` calls it so that the pages and the API, which need a login, work in one step. It
refuses to run with DEBUG off: a production database never gets a login with a printed password.
"""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--username", default="demo", help="the login to create or reset")
        parser.add_argument(
            "--url",
            default="http://127.0.0.1:8000",
            help="where the server answers, for the printed example (make run passes its own)",
        )

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError(
                "demo_login is for local development only and needs DJANGO_DEBUG=1; in "
                "production use createsuperuser and grant units in the admin."
            )
        password = secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(username=options["username"])
        # Staff see every unit and may grant units to other users in the admin.
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        Token.objects.filter(user=user).delete()
        token = Token.objects.create(user=user)
        self.stdout.write(
            f"Demo login (local only, reset on every run): user={user.get_username()} "
            f"password={password}\n"
            f"API token: curl -H 'Authorization: Token {token.key}' "
            f"{options['url'].rstrip('/')}/api/v1/units/"
        )
