from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

import healthcheck
from cart.models import Cart, CartItem
from cart.tasks import purge_stale_carts
from config.celery import app


@pytest.mark.django_db
def test_purge_removes_only_carts_untouched_for_the_configured_days(make_user, product):
    stale, fresh = Cart.objects.create(user=make_user("old@example.com")), Cart.objects.create(user=make_user())
    CartItem.objects.create(cart=stale, product=product, quantity=1)
    Cart.objects.filter(pk=stale.pk).update(updated_at=timezone.now() - timedelta(days=31))
    Cart.objects.filter(pk=fresh.pk).update(updated_at=timezone.now() - timedelta(days=29))
    assert purge_stale_carts.delay().get() == 1
    assert list(Cart.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert not CartItem.objects.filter(cart_id=stale.pk).exists()


def test_beat_schedules_the_purge_and_tasks_are_registered():
    assert settings.CELERY_BEAT_SCHEDULE["purge-stale-carts"]["task"] == "cart.tasks.purge_stale_carts"
    app.loader.import_default_modules()
    assert {
        "cart.tasks.purge_stale_carts",
        "orders.tasks.send_order_confirmation",
        "orders.tasks.export_orders_csv",
    } <= set(app.tasks)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("failures", "state", "attempts"),
    [
        ([ConnectionError("smtp down")], "SUCCESS", 2),  # transient: retried, then sent
        ([ConnectionError("smtp down")] * 10, "FAILURE", 9),  # gives up after max_retries=8
        ([ValueError("a bug")], "FAILURE", 1),  # not transient: never retried
    ],
)
def test_confirmation_retries_transient_mail_errors_only(auth, product, monkeypatch, failures, state, attempts):
    from orders import tasks

    auth.post("/api/v1/cart/add/", {"product_id": product.pk, "quantity": 1}, format="json")
    order_id = auth.post("/api/v1/orders/create/", {}, format="json").json()["id"]
    calls = []

    def flaky_send_mail(**kwargs):
        calls.append(kwargs["recipient_list"])
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        return 1

    monkeypatch.setattr(tasks, "send_mail", flaky_send_mail)
    monkeypatch.setattr(tasks.send_order_confirmation, "retry_backoff", False)  # no real sleeping
    monkeypatch.setitem(app.conf, "task_eager_propagates", False)
    result = tasks.send_order_confirmation.apply(args=[order_id], throw=False)
    assert (result.state, len(calls)) == (state, attempts)


def test_heartbeat_check_reports_missing_fresh_and_stale(tmp_path, monkeypatch):
    monkeypatch.setenv("CELERY_HEARTBEAT_DIR", str(tmp_path))
    assert "has not started" in healthcheck.check("worker")
    healthcheck.touch("worker")
    assert healthcheck.check("worker") is None
    later = healthcheck.path("worker").stat().st_mtime + healthcheck.STALE_AFTER + 5
    assert "old" in healthcheck.check("worker", now=later)
    healthcheck.remove("worker")
    assert "has not started" in healthcheck.check("worker")


@pytest.mark.parametrize(
    ("allowed", "host"),
    [
        ("shop.example.com,api.example.com", "shop.example.com"),
        (".example.com", "example.com"),
        ("*", "localhost"),
        ("", "localhost"),
    ],
)
def test_web_probe_uses_an_allowed_host(allowed, host):
    assert healthcheck.probe_host(allowed) == host


def test_web_probe_reports_an_unreachable_server():
    problem = healthcheck.check_web("http://127.0.0.1:9/api/v1/health/")
    assert problem.startswith("http://127.0.0.1:9/api/v1/health/ (Host: ")
    assert "failed" in problem
