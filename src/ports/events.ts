/**
 * Where services report what happened, as domain events (image created, member accepted, data
 * sent, ...). The server wires an adapter: none yet (events are dropped), oslo.messaging
 * notifications later (reference §17), which turns each event into Glance's payload.
 */
export interface EventSink<Event> {
  /** Never throws and never waits: a sink that fails must not fail the request that emitted. */
  emit(event: Event): void;
}

/** Drops every event. */
export const NO_EVENTS: EventSink<unknown> = {
  emit(): void {
    // No adapter is configured.
  },
};
