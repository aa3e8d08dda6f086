"""The trip saga of docs/testing.md: book a hotel and a flight, then wait up to 7 days for the
traveller's confirmation; confirmed, charge; not confirmed in time, cancel both bookings."""

from __future__ import annotations

from abc import abstractmethod
from datetime import timedelta

from infinitic import Channel, Workflow, any_of, name, retry


@name("TravelService")
class TravelService:
    @abstractmethod
    def book_hotel(self, trip: str) -> str: ...
    @abstractmethod
    def book_flight(self, trip: str) -> str: ...
    @abstractmethod
    def charge(self, trip: str) -> str: ...
    @abstractmethod
    def cancel(self, booking: str) -> str: ...


class TravelServiceImpl(TravelService):
    payment_failures = 0  # the next charges that fail, as a flaky payment provider does

    def book_hotel(self, trip: str) -> str:
        return f"hotel-{trip}"

    def book_flight(self, trip: str) -> str:
        return f"flight-{trip}"

    @retry(minimum_seconds=3600, random_factor=0, maximum_retries=5)
    def charge(self, trip: str) -> str:
        if TravelServiceImpl.payment_failures > 0:
            TravelServiceImpl.payment_failures -= 1
            raise ConnectionError("the payment provider is down")
        return f"receipt-{trip}"

    def cancel(self, booking: str) -> str:
        return f"canceled {booking}"


@name("TripSaga")
class TripSaga(Workflow):
    confirmation = Channel[bool]()

    @abstractmethod
    def book(self, trip: str) -> str: ...


class TripSagaImpl(TripSaga):
    def book(self, trip: str) -> str:
        travel = self.new_service(TravelService)
        hotel = travel.book_hotel(trip)
        flight = travel.book_flight(trip)
        confirmed = self.confirmation.receive()
        answer = any_of(confirmed, self.timer(timedelta(days=7))).result()
        if answer is True:  # the signal came first (else the timer's datetime)
            return travel.charge(trip)
        # compensations, in reverse order
        return f"{travel.cancel(flight)}, {travel.cancel(hotel)}"


class TripSagaWithDeposit(TripSaga):
    """The saga changed after instances started: a deposit charged before the flight. Running
    instances recorded book_flight there; replay() says so before this is deployed."""

    def book(self, trip: str) -> str:
        travel = self.new_service(TravelService)
        hotel = travel.book_hotel(trip)
        travel.charge(f"deposit-{trip}")
        flight = travel.book_flight(trip)
        confirmed = self.confirmation.receive()
        answer = any_of(confirmed, self.timer(timedelta(days=7))).result()
        if answer is True:
            return travel.charge(trip)
        return f"{travel.cancel(flight)}, {travel.cancel(hotel)}"
