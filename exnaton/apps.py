from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    """The admin, on a site whose login is throttled like the site's own (exnaton/login.py)."""

    default_site = "exnaton.login.AdminSite"
