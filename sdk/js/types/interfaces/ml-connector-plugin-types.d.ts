declare module 'ml-connector:plugin/types@0.2.0' {
  /**
   * A verified event from a source system.
   */
  export interface Event {
    /**
     * Unique per source (Wave's `event_id`; for QAD a stable record+state key).
     */
    id: string,
    /**
     * "wave", "qad", "twilio".
     */
    source: string,
    /**
     * The source's own event type, e.g. "invoice.paid", "estimate.expired".
     */
    kind: string,
    /**
     * The source's tenant id, raw (not base64-encoded).
     */
    businessId: string,
    /**
     * When the host accepted it, RFC 3339 UTC.
     */
    receivedAt: string,
    /**
     * The event's `data` object exactly as received, JSON text.
     */
    data: string,
  }
  /**
   * A decimal amount: strings, never floats, near money.
   */
  export interface Money {
    /**
     * Decimal string as the source sent it, e.g. "8.98" or "-10.00".
     */
    amount: string,
    /**
     * ISO 4217 code, e.g. "USD".
     */
    currency: string,
  }
  /**
   * The customer the event is about, as the host looked it up.
   */
  export interface Customer {
    id: string,
    name: string,
    email?: string,
    /**
     * E.164, already normalized by the host; none when not dialable.
     */
    mobile?: string,
    /**
     * E.164, already normalized by the host; none when not dialable.
     */
    phone?: string,
  }
  /**
   * The invoice the event is about, as the host looked it up.
   */
  export interface Invoice {
    id: string,
    number: string,
    status: string,
    total: Money,
    amountDue: Money,
    /**
     * YYYY-MM-DD.
     */
    dueDate?: string,
    viewUrl?: string,
  }
  /**
   * The estimate the event is about, as the host looked it up.
   */
  export interface Estimate {
    id: string,
    number: string,
    status: string,
    total: Money,
    /**
     * YYYY-MM-DD.
     */
    dueDate?: string,
    viewUrl?: string,
  }
  /**
   * How a message goes out.
   * # Variants
   * 
   * ## `"sms"`
   * 
   * ## `"call"`
   */
  export type Channel = 'sms' | 'call';
  /**
   * Who a message goes to; the host resolves, normalizes and validates it.
   */
  export type Recipient = RecipientCustomer | RecipientTeam | RecipientNumber;
  /**
   * The event's customer; the host picks mobile for SMS, then phone.
   */
  export interface RecipientCustomer {
    tag: 'customer',
  }
  /**
   * A named contact from the host configuration, e.g. "accounting".
   */
  export interface RecipientTeam {
    tag: 'team',
    val: string,
  }
  /**
   * A literal number; the host normalizes and validates it.
   */
  export interface RecipientNumber {
    tag: 'number',
    val: string,
  }
  /**
   * A message a plugin asked for, as the host holds it now.
   */
  export interface SentMessage {
    /**
     * The plugin that asked for it.
     */
    plugin: string,
    /**
     * The key that plugin gave it.
     */
    key: string,
    channel: Channel,
    /**
     * The recipient as the plugin named it.
     */
    to: Recipient,
    /**
     * The number it went to, E.164; none when it was never resolved.
     */
    toNumber?: string,
    body: string,
    /**
     * Twilio's SID; none when Twilio never accepted it.
     */
    sid?: string,
    /**
     * The host's status: "pending", "sending", "sent", "failed",
     * "undeliverable", "cancelled" or "dry-run".
     */
    status: string,
    /**
     * The latest status Twilio reported for it ("delivered", …), if any.
     */
    deliveryStatus?: string,
  }
  /**
   * An inbound SMS, and what the host sent that it answers.
   */
  export interface Reply {
    /**
     * Twilio's `MessageSid`.
     */
    sid: string,
    /**
     * The sender, E.164 as Twilio gave it.
     */
    from: string,
    /**
     * Our number it was sent to.
     */
    to: string,
    /**
     * The text.
     */
    body: string,
    /**
     * Twilio's `OptOutType` ("STOP", "START", "HELP") when it recognised a
     * keyword. The host has already applied STOP and START to its opt-out list.
     */
    optOutType?: string,
    /**
     * When the host received it, RFC 3339 UTC.
     */
    receivedAt: string,
    /**
     * The most recent message the host sent to the sender's number before
     * the reply arrived; none when it sent nothing to that number.
     */
    original?: SentMessage,
    /**
     * The event that produced `original`, as plugins saw it.
     */
    sourceEvent?: Event,
  }
  /**
   * What the host looked up for this event before calling plugins.
   */
  export interface Context {
    /**
     * The business's display name; empty when unknown.
     */
    businessName: string,
    customer?: Customer,
    invoice?: Invoice,
    estimate?: Estimate,
    /**
     * The business's local date and time (RFC 3339 with offset). The only
     * clock a plugin should read, so replaying an event is deterministic.
     */
    now: string,
    /**
     * This plugin's settings from the host configuration.
     */
    settings: Array<[string, string]>,
    /**
     * Set for an inbound SMS (`source` "twilio", `kind` "message.received"):
     * the reply, the message it answers and that message's source event.
     * When the source event is known, `business-name`, `customer`,
     * `invoice` and `estimate` are the ones looked up for it.
     */
    reply?: Reply,
  }
  export interface Message {
    to: Recipient,
    /**
     * SMS text (at most 1600 characters), or the text a voice call speaks
     * (the host escapes it into TwiML; at most 4000 bytes once escaped).
     */
    body: string,
    /**
     * Unique within this plugin for this subject (at most 128 bytes); with
     * the plugin name and event id it is the idempotency key, and the
     * handle for `cancel`.
     */
    key: string,
    /**
     * Earliest send time, RFC 3339; none = now (quiet hours still apply).
     */
    notBefore?: string,
  }
  export type Action = ActionSms | ActionCall | ActionCancel;
  export interface ActionSms {
    tag: 'sms',
    val: Message,
  }
  export interface ActionCall {
    tag: 'call',
    val: Message,
  }
  /**
   * Cancel this plugin's not-yet-sent messages whose key starts with this prefix.
   */
  export interface ActionCancel {
    tag: 'cancel',
    val: string,
  }
  export interface Manifest {
    name: string,
    version: string,
    description: string,
    /**
     * Event kinds, exact or with a trailing wildcard: "invoice.*".
     */
    subscribes: Array<string>,
  }
}
