from django.urls import path

from . import views

# One view, one method per path: the schema shows exactly what each path takes.
ITEM_UPDATE = views.CartItemView.as_view(http_method_names=["put", "options"])
ITEM_REMOVE = views.CartItemView.as_view(http_method_names=["delete", "options"])

urlpatterns = [
    path("", views.CartView.as_view(), name="cart"),
    path("add/", views.CartAddView.as_view(), name="cart-add"),
    path("update/<int:item_id>/", ITEM_UPDATE, name="cart-update"),
    path("remove/<int:item_id>/", ITEM_REMOVE, name="cart-remove"),
]
