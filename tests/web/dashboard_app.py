"""What the dashboard tests run: a greeting that completes, a payment whose service fails until
it is fixed, and an approval that waits on a signal."""

from __future__ import annotations

from infinitic import Channel, Workflow, name

BROKEN = {"payments": True}  # the service's state; the tests "fix" it


@name("Greeter")
class GreeterService:
    def greet(self, who: str) -> str: ...


class GreeterServiceImpl(GreeterService):
    def greet(self, who: str) -> str:
        return f"hello {who}"


@name("Bank")
class BankService:
    def charge(self, amount: int) -> str: ...


class BankServiceImpl(BankService):
    def charge(self, amount: int) -> str:
        if BROKEN["payments"]:
            raise ConnectionError(f"bank unreachable while charging {amount}")
        return f"charged {amount}"


@name("Hello")
class HelloFlow(Workflow):
    def run(self, who: str) -> str: ...


class HelloFlowImpl(HelloFlow):
    def run(self, who: str) -> str:
        return self.new_service(GreeterService).greet(who)


@name("Payment")
class PaymentFlow(Workflow):
    def run(self, amount: int) -> str: ...


class PaymentFlowImpl(PaymentFlow):
    def run(self, amount: int) -> str:
        return self.new_service(BankService).charge(amount)


@name("Approval")
class ApprovalFlow(Workflow):
    decision = Channel[str]()

    def run(self, request: str) -> str: ...


class ApprovalFlowImpl(ApprovalFlow):
    def run(self, request: str) -> str:
        return f"{request}: {self.decision.receive().result()}"


@name("Family")
class FamilyFlow(Workflow):
    def run(self, who: str) -> str: ...


class FamilyFlowImpl(FamilyFlow):
    def run(self, who: str) -> str:
        return self.new_workflow(HelloFlow).run(who)


def worker_config(dashboard: dict[str, object]) -> dict[str, object]:
    app = "tests.web.dashboard_app"
    return {
        "name": "dashboard-worker",
        "services": [
            {"name": "Greeter", "class": f"{app}.GreeterServiceImpl"},
            {"name": "Bank", "class": f"{app}.BankServiceImpl", "retry": {"maximumRetries": 0}},
        ],
        "workflows": [
            {"name": "Hello", "class": f"{app}.HelloFlowImpl"},
            {"name": "Payment", "class": f"{app}.PaymentFlowImpl"},
            {"name": "Approval", "class": f"{app}.ApprovalFlowImpl"},
            {"name": "Family", "class": f"{app}.FamilyFlowImpl"},
        ],
        "dashboard": dashboard,
    }
