"""A saga: book a car, a flight and a hotel in parallel; if any fails, cancel the others."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

from infinitic import TaskFailedError, Workflow, name, task


@dataclass
class BookingRequest:
    customer: str
    fail: str | None = None  # which booking refuses, to show the compensation


@dataclass
class BookingResult:
    booked: bool
    detail: str


def _book(kind: str, request: BookingRequest) -> BookingResult:
    if request.fail == kind:
        raise RuntimeError(f"no {kind} available")
    return BookingResult(True, f"{kind} {task.task_id[:8]} for {request.customer}")


@name("CarRental")
class CarRentalService:
    @abstractmethod
    def book(self, request: BookingRequest) -> BookingResult: ...
    @abstractmethod
    def cancel(self, request: BookingRequest) -> None: ...


class CarRentalServiceImpl(CarRentalService):
    def book(self, request: BookingRequest) -> BookingResult:
        return _book("car", request)

    def cancel(self, request: BookingRequest) -> None:
        return None


@name("Flight")
class FlightService:
    @abstractmethod
    def book(self, request: BookingRequest) -> BookingResult: ...
    @abstractmethod
    def cancel(self, request: BookingRequest) -> None: ...


class FlightServiceImpl(FlightService):
    def book(self, request: BookingRequest) -> BookingResult:
        return _book("flight", request)

    def cancel(self, request: BookingRequest) -> None:
        return None


@name("Hotel")
class HotelService:
    @abstractmethod
    def book(self, request: BookingRequest) -> BookingResult: ...
    @abstractmethod
    def cancel(self, request: BookingRequest) -> None: ...


class HotelServiceImpl(HotelService):
    def book(self, request: BookingRequest) -> BookingResult:
        return _book("hotel", request)

    def cancel(self, request: BookingRequest) -> None:
        return None


@name("BookingWorkflow")
class BookingWorkflow(Workflow):
    @abstractmethod
    def book(self, request: BookingRequest) -> list[str]: ...


class BookingWorkflowImpl(BookingWorkflow):
    def __init__(self) -> None:
        self.car = self.new_service(CarRentalService)
        self.flight = self.new_service(FlightService)
        self.hotel = self.new_service(HotelService)

    def book(self, request: BookingRequest) -> list[str]:
        services: dict[str, Any] = {"car": self.car, "flight": self.flight, "hotel": self.hotel}
        deferred = {kind: self.dispatch(stub.book, request) for kind, stub in services.items()}
        booked: dict[str, BookingResult] = {}
        failures: list[str] = []
        for kind, d in deferred.items():
            try:
                booked[kind] = d.result()
            except TaskFailedError as failure:
                failures.append(f"{kind} failed: {failure.last_error.message}")
        if not failures:
            return [r.detail for r in booked.values()]
        for kind in booked:
            services[kind].cancel(request)  # compensation
            failures.append(f"canceled the {kind}")
        return failures


CONFIG: dict[str, Any] = {
    "name": "booking-worker",
    "transport": "inMemory",
    "storage": "inMemory",
    "services": [
        {
            "name": n,
            "class": f"infinitic.demo.booking.{c}",
            "concurrency": 4,
            "retry": {"maximumRetries": 0},
        }
        for n, c in (
            ("CarRental", "CarRentalServiceImpl"),
            ("Flight", "FlightServiceImpl"),
            ("Hotel", "HotelServiceImpl"),
        )
    ],
    "workflows": [
        {"name": "BookingWorkflow", "class": "infinitic.demo.booking.BookingWorkflowImpl"}
    ],
}
