"""The ServiceNow business rule that tells the bot about tickets: its script, and its delivery in the sandbox.

Owns `BUSINESS_RULE_SCRIPT` (the JavaScript a ServiceNow admin pastes into an "after insert/update" business rule
on the incident table; the README prints it), `signature()` (the `X-ServiceNow-Signature` value that script
computes) and `WebhookSender`, which plays that business rule for the sandbox's ServiceNow emulator: one ordered
queue and one sender task, so updates reach the bot in the order they were saved, signing, a few quick retries on
connection errors and 5xx/429, and a record of every delivery. It does not decide what happened: the emulator hands
it finished payloads.

The body is compact JSON with every non-ASCII character escaped (`\\u00e9`), in both the script and the sender, so
the HMAC does not depend on how either side encodes text: the bot must verify the raw bytes it received.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from sandbox.ordered_sender import OrderedSender

SIGNATURE_HEADER = "X-ServiceNow-Signature"
DELIVERY_HEADER = "X-ServiceNow-Delivery"
USER_AGENT = "ServiceNow/1.0"  # what RESTMessageV2 sends unless glide.http.user.agent says otherwise

# The fields of the webhook body, in the order both the script and the sender write them.
PAYLOAD_FIELDS = ("table", "operation", "sys_id", "number", "short_description", "description", "state", "impact",
                  "urgency", "assignment_group", "category", "correlation_id", "x_pd_integration_incident",
                  "updated_by", "updated_on", "work_notes", "comments", "close_notes", "previous_state",
                  "previous_group", "previous_impact", "previous_urgency")
# What the script cuts each long text to (UTF-16 units, as JavaScript counts), and the words it ends a cut one with.
CLIPPED = {"description": 2000, "work_notes": 16000, "comments": 16000, "close_notes": 4000}
CUT = "\n[cut by Paved Road's business rule: the whole text is in ServiceNow]"

BUSINESS_RULE_SCRIPT = r"""(function executeRule(current, previous /*null when async*/) {
    // Paved Road: tell the bot about this incident.
    // Business rule on table "incident": When = after, Insert and Update ticked, Advanced ticked; paste this
    // script. Create three system properties (sys_properties), readable by admins only:
    //   pavedroad.servicenow.webhook_url       https://<your bot>/servicenow/webhook
    //   pavedroad.servicenow.webhook_secret    the bot's SERVICENOW_WEBHOOK_SECRET
    //   pavedroad.servicenow.integration_user  the bot's SERVICENOW_USERNAME (its own updates are not sent back)
    var url = gs.getProperty('pavedroad.servicenow.webhook_url');
    var secret = gs.getProperty('pavedroad.servicenow.webhook_secret');
    if (!url || !secret) {
        gs.warn('Paved Road: set pavedroad.servicenow.webhook_url and pavedroad.servicenow.webhook_secret');
        return;
    }

    function value(name) {
        var v = current.getValue(name);
        return v === null || v === undefined ? '' : String(v);
    }

    // The bot's own update (a work note, a state it set): it knows already, and would only drop it.
    var integrationUser = gs.getProperty('pavedroad.servicenow.integration_user');
    if (integrationUser && value('sys_updated_by') == integrationUser) {
        return;
    }

    // The text of the journal entry this very update added to `field`, or "".
    function newEntry(field) {
        if (!current[field].changes()) {
            return '';
        }
        // getJournalEntry(1) is "<date> - <user> (<label>)\n<text>\n\n": keep only <text>.
        var entry = String(current[field].getJournalEntry(1) || '');
        return entry.replace(/^[^\n]*\n/, '').replace(/\n\n$/, '');
    }

    // The long texts cut, so that a delivery stays under the bot's 256 KB (each character at most 6 bytes once
    // escaped): a bigger one is refused (413), and a refusal is never retried: the ticket would page nobody.
    function clipped(text, most) {
        if (text.length <= most) {
            return text;
        }
        var cut = text.substring(0, /[\ud800-\udbff]/.test(text.charAt(most - 1)) ? most - 1 : most);
        return cut + '\n[cut by Paved Road\'s business rule: the whole text is in ServiceNow]';
    }

    // Compact JSON with non-ASCII characters escaped, so the HMAC is over plain ASCII bytes.
    function asciiJson(object) {
        return JSON.stringify(object).replace(/[\u0080-\uffff]/g, function (c) {
            return '\\u' + ('0000' + c.charCodeAt(0).toString(16)).slice(-4);
        });
    }

    // generateMac answers in Base64; the bot expects lowercase hex.
    function base64ToHex(b64) {
        var alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
        var hex = '', bits = 0, buffer = 0;
        b64 = String(b64).replace(/[^A-Za-z0-9+\/]/g, '');
        for (var i = 0; i < b64.length; i++) {
            buffer = ((buffer << 6) | alphabet.indexOf(b64.charAt(i))) & 0xffff;
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                hex += ('0' + ((buffer >> bits) & 0xff).toString(16)).slice(-2);
            }
        }
        return hex;
    }

    var body = asciiJson({
        table: 'incident',
        operation: String(current.operation()),
        sys_id: value('sys_id'),
        number: value('number'),
        short_description: value('short_description'),
        description: clipped(value('description'), 2000),
        state: value('state'),
        impact: value('impact'),
        urgency: value('urgency'),
        assignment_group: current.assignment_group.nil() ? '' : String(current.assignment_group.getDisplayValue()),
        category: value('category'),
        correlation_id: value('correlation_id'),
        x_pd_integration_incident: value('x_pd_integration_incident'),
        updated_by: value('sys_updated_by'),
        updated_on: value('sys_updated_on'),
        work_notes: clipped(newEntry('work_notes'), 16000),
        comments: clipped(newEntry('comments'), 16000),
        close_notes: clipped(value('close_notes'), 4000),
        // Before this update (an update's), so the bot can tell the desk resolving, reassigning or raising it.
        previous_state: previous ? String(previous.getValue('state') || '') : '',
        previous_group: !previous || previous.assignment_group.nil() ? ''
            : String(previous.assignment_group.getDisplayValue()),
        previous_impact: previous ? String(previous.getValue('impact') || '') : '',
        previous_urgency: previous ? String(previous.getValue('urgency') || '') : ''
    });
    // In a scoped application use `new CertificateEncryption()` and `gs.base64Encode(secret)` instead.
    var mac = new GlideCertificateEncryption();
    var signature = base64ToHex(mac.generateMac(GlideStringUtil.base64Encode(secret), 'HmacSHA256', body));
    var delivery = gs.generateGUID();  // the same on every attempt, so the bot can ignore a repeat

    for (var attempt = 1; attempt <= 3; attempt++) {
        var status = 0;
        try {
            var request = new sn_ws.RESTMessageV2();
            request.setEndpoint(url);
            request.setHttpMethod('post');
            request.setHttpTimeout(5000);
            request.setRequestHeader('Content-Type', 'application/json');
            request.setRequestHeader('X-ServiceNow-Signature', signature);
            request.setRequestHeader('X-ServiceNow-Delivery', delivery);
            request.setRequestBody(body);
            status = request.execute().getStatusCode();
        } catch (ex) {
            status = 0;  // no answer: retried
        }
        if (status >= 200 && status < 300) {
            return;
        }
        if (status >= 400 && status < 500 && status != 429) {
            gs.error('Paved Road webhook refused with HTTP ' + status + ' for ' + value('number'));
            return;
        }
    }
    gs.error('Paved Road webhook failed after 3 attempts for ' + value('number'));
})(current, previous);
"""


def clipped(text: str, most: int) -> str:
    """`text` cut as the script's `clipped` cuts it: to `most` UTF-16 units, never half a surrogate pair."""
    units = text.encode("utf-16-le", "surrogatepass")
    if len(units) <= most * 2:
        return text
    keep = most - 1 if 0xD800 <= int.from_bytes(units[most * 2 - 2:most * 2], "little") <= 0xDBFF else most
    return units[:keep * 2].decode("utf-16-le", "surrogatepass") + CUT


def signature(secret: str, body: bytes) -> str:
    """The `X-ServiceNow-Signature` value: lowercase hex HMAC-SHA256 of the raw body, keyed with the secret."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode(payload: dict[str, Any]) -> bytes:
    """The body exactly as the business rule writes it: compact, ASCII-only JSON in `PAYLOAD_FIELDS` order."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode("ascii")


@dataclass
class Delivery:
    """One webhook: `id` is its `X-ServiceNow-Delivery`, the same on every attempt.

    `status`: pending, delivered, refused (a 4xx other than 429: not retried), failed (retries exhausted), or
    no_webhook_url (nobody to send it to yet).
    """

    id: str
    operation: str
    sys_id: str
    number: str
    status: str = "pending"
    attempts: int = 0
    http_status: int | None = None
    error: str | None = None


class WebhookSender(OrderedSender[Delivery]):
    """Sends queued payloads one at a time to `url`. Create it anywhere; it starts its task on first use."""

    def __init__(self, *, secret: str, max_attempts: int = 3, backoff_seconds: float = 0.1,
                 timeout_seconds: float = 5.0) -> None:
        super().__init__("servicenow-webhooks", timeout_seconds)
        self.secret = secret
        self.max_attempts = max(1, max_attempts)
        self.backoff_seconds = backoff_seconds
        self.deliveries: list[Delivery] = []

    def enqueue(self, payload: dict[str, Any]) -> Delivery:
        """Queue one business-rule payload, serialised now (the ticket as it was when saved)."""
        delivery = Delivery(id=str(uuid.uuid4()), operation=str(payload["operation"]), sys_id=str(payload["sys_id"]),
                            number=str(payload["number"]))
        self.deliveries.append(delivery)
        self._put(delivery, encode(payload))
        return delivery

    def snapshot(self) -> list[dict[str, object]]:
        return [asdict(d) for d in self.deliveries]

    async def _deliver(self, delivery: Delivery, body: bytes) -> None:
        if not self.url:
            delivery.status = "no_webhook_url"
            return
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   SIGNATURE_HEADER: signature(self.secret, body), DELIVERY_HEADER: delivery.id}
        self._http()
        while True:
            delivery.attempts += 1
            if not await self._attempt(delivery, body, headers):
                return
            if delivery.attempts >= self.max_attempts:
                delivery.status = "failed"
                return
            await asyncio.sleep(self.backoff_seconds * 2 ** (delivery.attempts - 1))
