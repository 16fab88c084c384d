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
        "orders.tasks.purge_old_exports",
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
    from orders import confirmations, tasks

    auth.post("/api/v1/cart/add/", {"product_id": product.pk, "quantity": 1}, format="json")
    order_id = auth.post("/api/v1/orders/create/", {}, format="json").json()["id"]
    calls = []

    def flaky_send_mail(**kwargs):
        calls.append(kwargs["recipient_list"])
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        return 1

    monkeypatch.setattr(confirmations, "send_mail", flaky_send_mail)
    monkeypatch.setattr(tasks.send_order_confirmation, "retry_backoff", False)  # no real sleeping
    monkeypatch.setitem(app.conf, "task_eager_propagates", False)
    result = tasks.send_order_confirmation.apply(args=[order_id], throw=False)
    assert (result.state, len(calls)) == (state, attempts)


def run_in_a_worker(task) -> None:
    """What a worker does around a task, database-wise: Celery's Django fixup, then the task signals."""
    from celery.fixups.django import DjangoWorkerFixup
    from celery.signals import task_postrun, task_prerun

    fixup = DjangoWorkerFixup(app)
    fixup.on_task_prerun(sender=task)
    task_prerun.send(sender=task, task_id="t", task=task, args=(), kwargs={})
    task_postrun.send(sender=task, task_id="t", task=task, args=(), kwargs={}, retval=None, state="SUCCESS")
    fixup.on_task_postrun(sender=task)


@pytest.mark.django_db(transaction=True)  # autocommit, as in a worker
def test_a_worker_keeps_its_database_connection_from_task_to_task():
    from django.db import connection

    from orders.tasks import send_order_confirmation

    connection.ensure_connection()
    opened = connection.connection
    for _ in range(3):
        run_in_a_worker(send_order_confirmation)
    # Celery's default closes it after every task: a new PostgreSQL backend for each one.
    assert connection.connection is opened


@pytest.mark.postgres("closing the connection would destroy the in-memory SQLite test database")
@pytest.mark.django_db(transaction=True)
def test_a_worker_drops_a_broken_database_connection_after_the_task():
    from django.db import connection

    from orders.tasks import send_order_confirmation

    connection.ensure_connection()
    connection.connection.close()  # the server went away under it
    connection.errors_occurred = True  # as Django marks it when a query fails
    run_in_a_worker(send_order_confirmation)
    assert connection.connection is None  # the next task connects afresh
    connection.ensure_connection()
    assert connection.is_usable()


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
