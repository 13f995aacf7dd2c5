from django.urls import path

from bench import views

urlpatterns = [
    path("json", views.json_view),
    path("plaintext", views.plaintext),
    path("io", views.io),
    path("cpu", views.cpu),
    path("validate", views.validate),
    path("db", views.single_query),
    path("queries", views.queries),
    path("updates", views.updates),
    path("fortunes", views.fortunes),
    path("health", views.health),
]

handler400 = "bench.views.bad_request"
handler404 = "bench.views.not_found"
handler500 = "bench.views.server_error"
