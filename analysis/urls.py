from django.urls import path

from analysis import views

app_name = "analysis"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("<uuid:muid>/", views.report, name="report"),
]
