/** `delayed_delete` and the scrubber's `scrub_time`, `scrub_pool_size` and `wakeup_time` (reference §12). */
export interface ScrubberSettings {
  readonly delayedDelete: boolean;
  readonly scrubTimeSeconds: number;
  readonly poolSize: number;
  readonly wakeupSeconds: number;
}
