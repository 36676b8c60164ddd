"""armonik.api.grpc.v1.events.Events: GetEvents, the stream of a session's task and result
changes (engine/events.py). A stream whose feed failed ends UNAVAILABLE, which the `armonik`
client answers by subscribing again."""

import grpc
from armonik.protogen.client.events_service_pb2_grpc import EventsServicer
from armonik.protogen.common import events_common_pb2 as pb

from api.status import streaming
from engine.events import Events
from stores.events import FeedLost
from wire.events import event_message, subscription
from wire.messages import UNAVAILABLE_TRAILER


class EventsService(EventsServicer):
    def __init__(self, events: Events) -> None:
        self.events = events

    @streaming
    async def GetEvents(self, request: pb.EventSubscriptionRequest, context):
        try:
            async for event in self.events.stream(subscription(request)):
                yield event_message(event)
        except FeedLost as lost:
            await context.abort(
                grpc.StatusCode.UNAVAILABLE,
                f"the event feed stopped: {lost}; subscribe again",
                trailing_metadata=((UNAVAILABLE_TRAILER, "store"),),
            )
