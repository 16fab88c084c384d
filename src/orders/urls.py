from django.urls import path

from . import views

urlpatterns = [
    path("", views.OrderListView.as_view(), name="order-list"),
    path("create/", views.OrderCreateView.as_view(), name="order-create"),
    path("export/", views.OrderExportView.as_view(), name="order-export"),
    path("export/<str:name>/", views.OrderExportFileView.as_view(), name="order-export-file"),
    path("<int:pk>/", views.OrderDetailView.as_view(), name="order-detail"),
]
