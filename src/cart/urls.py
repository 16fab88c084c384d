from django.urls import path

from . import views

urlpatterns = [
    path("", views.CartView.as_view(), name="cart"),
    path("add/", views.CartAddView.as_view(), name="cart-add"),
    path("update/<int:item_id>/", views.CartItemView.as_view(), name="cart-update"),
    path("remove/<int:item_id>/", views.CartItemView.as_view(), name="cart-remove"),
]
