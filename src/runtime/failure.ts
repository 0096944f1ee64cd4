/**
 * Supervision. A throw inside an actor (start, receive, stop, or a send it made into a full
 * mailbox) is a programmer error. The host wraps it in an ActorFailure naming the actor and the
 * type of the message it was handling, stops the actor's member (the simulation host) or the
 * whole host (the thread host), and surfaces it: nothing is swallowed.
 */
export class ActorFailure extends Error {
  override readonly name = 'ActorFailure';
  readonly actor: string;
  /** The type of the message being handled, or `'<start>'` / `'<stop>'`. */
  readonly messageType: string;
  /** The original error's stack (its message when it has no stack), kept across threads. */
  readonly causeStack: string;

  constructor(actor: string, messageType: string, causeStack: string, cause?: unknown) {
    super(`actor ${actor} failed handling ${messageType}: ${firstLine(causeStack)}`,
      cause === undefined ? undefined : { cause });
    this.actor = actor;
    this.messageType = messageType;
    this.causeStack = causeStack;
    this.stack = `${this.name}: ${this.message}\n--- cause ---\n${causeStack}`;
  }

  /** Wraps anything thrown by an actor. */
  static from(actor: string, messageType: string, thrown: unknown): ActorFailure {
    if (thrown instanceof ActorFailure) return thrown;
    return new ActorFailure(actor, messageType, describeThrown(thrown), thrown);
  }
}

/** The stack of an Error, or a readable rendering of any other thrown value. */
export function describeThrown(thrown: unknown): string {
  if (thrown instanceof Error) return thrown.stack ?? `${thrown.name}: ${thrown.message}`;
  try {
    return `non-error thrown: ${String(thrown)}`;
  } catch {
    return 'non-error thrown (unprintable)';
  }
}

/** The type of a message for a failure report; tolerant of non-messages. */
export function messageTypeOf(message: unknown): string {
  if (typeof message === 'object' && message !== null && 'type' in message) {
    const type = (message as { type: unknown }).type;
    if (typeof type === 'string') return type;
  }
  return '<untyped>';
}

function firstLine(text: string): string {
  const nl = text.indexOf('\n');
  return nl < 0 ? text : text.slice(0, nl);
}
