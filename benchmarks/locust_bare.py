"""Bare Locust: one FastHttpUser hitting one static endpoint as fast as it can (the reference point)."""

from locust import FastHttpUser, constant, task


class Bare(FastHttpUser):
    wait_time = constant(0)

    @task
    def get(self) -> None:
        self.client.get("/static")
