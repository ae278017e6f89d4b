// What a CONNECT asks for, checked: protocol level, client id, clean session, keep-alive, session expiry, the
// token (the password), the will message. A refusal says which CONNACK code answers it; an acceptance, what the
// CONNACK tells an MQTT 5 client of this server's terms.

import { randomBytes } from 'node:crypto';
import type { IConnackPacket, IConnectPacket } from 'mqtt-packet';
import { RelayError } from '../../shared/errors.js';
import { bodyToData } from '../payload-mapping.js';
import type { MqttVersion } from './mqtt-codec.js';
import { reason, returnCode } from './mqtt-reasons.js';
import { maxSessionTtlMs } from './mqtt-sessions.js';
import { topicFromMqtt } from './mqtt-topics.js';

export interface Will {
  topic: string;
  data: unknown;
}

export interface ConnectTerms {
  version: MqttVersion;
  clientId: string;
  /** The server chose the client id (MQTT 5 tells the client in CONNACK). */
  assigned: boolean;
  /** Clean session (3.1.1) or clean start (5): do not resume a stored session. */
  clean: boolean;
  /** 0: no keep-alive. */
  keepAliveMs: number;
  /** How long the session is kept after the connection ends; 0: not at all. */
  sessionTtlMs: number;
  token: string | undefined;
  will: Will | undefined;
  /** The largest packet the client accepts (MQTT 5 Maximum Packet Size). */
  maxPacketBytes: number;
  /** QoS 1 messages the client takes unacknowledged at once (MQTT 5 Receive Maximum). */
  receiveMaximum: number;
}

export interface ConnectRefusal {
  /** The 3.1.1 return code and the 5 reason code of the CONNACK that refuses it. */
  returnCode: number;
  reason: number;
  message: string;
}

/** Longest client id kept (MQTT only promises 23 characters; longer ones hold memory per stored session). */
const maxClientIdLength = 256;
/** QoS 1 deliveries awaiting PUBACK per client at most, whatever the client allows; past it, QoS 0. */
export const maxInflight = 1024;

/** The terms of a CONNECT, or why it is refused. */
export function connectTerms(packet: IConnectPacket): ConnectTerms | ConnectRefusal {
  const version = packet.protocolVersion;
  if ((version !== 4 && version !== 5) || packet.protocolId !== 'MQTT') {
    return {
      returnCode: returnCode.unacceptableProtocolVersion,
      reason: reason.unsupportedProtocolVersion,
      message: 'MQTT 3.1.1 (level 4) and 5 are supported',
    };
  }
  const refuse = (v3: number, v5: number, message: string): ConnectRefusal => ({ returnCode: v3, reason: v5, message });
  if (packet.properties?.authenticationMethod !== undefined) {
    return refuse(
      returnCode.notAuthorized,
      reason.badAuthenticationMethod,
      'enhanced authentication is not supported: put the token in the password',
    );
  }
  const clean = packet.clean !== false;
  let clientId = packet.clientId ?? '';
  let assigned = false;
  if (clientId.length > maxClientIdLength)
    return refuse(
      returnCode.identifierRejected,
      reason.clientIdNotValid,
      `client ids hold at most ${maxClientIdLength} characters`,
    );
  if (clientId === '') {
    // 3.1.1 gives an id-less client only a clean session (§3.1.3-7); 5 assigns it an id it can come back with.
    if (version === 4 && !clean)
      return refuse(returnCode.identifierRejected, reason.clientIdNotValid, 'a persistent session needs a client id');
    clientId = `relaymesh-${randomBytes(12).toString('base64url')}`;
    assigned = true;
  }
  // 3.1.1: a session with clean false lasts until it expires here; 5: as long as the client asks (0 by default).
  const expirySeconds = version === 5 ? (packet.properties?.sessionExpiryInterval ?? 0) : clean ? 0 : Infinity;
  const sessionTtlMs = Math.min(expirySeconds * 1000, maxSessionTtlMs);
  let will: Will | undefined;
  if (packet.will) {
    const mapped = topicFromMqtt(packet.will.topic);
    if ('problem' in mapped) return refuse(returnCode.notAuthorized, reason.topicNameInvalid, `will ${mapped.problem}`);
    if (packet.will.qos === 2 && version === 5)
      return refuse(returnCode.notAuthorized, reason.qosNotSupported, 'QoS 2 is not supported (maximum QoS 1)');
    const payload = typeof packet.will.payload === 'string' ? Buffer.from(packet.will.payload) : packet.will.payload;
    try {
      will = {
        topic: mapped.topic,
        data: bodyToData(
          payload,
          version === 5 ? packet.will.properties?.contentType : undefined,
          'json-text-or-binary',
        ),
      };
    } catch (error) {
      if (!(error instanceof RelayError)) throw error;
      return refuse(returnCode.notAuthorized, reason.payloadFormatInvalid, `will ${error.message}`);
    }
  }
  return {
    version,
    clientId,
    assigned,
    clean,
    sessionTtlMs,
    keepAliveMs: (packet.keepalive ?? 0) * 1000,
    token: packet.password && packet.password.length > 0 ? packet.password.toString('utf8') : undefined,
    will,
    maxPacketBytes: packet.properties?.maximumPacketSize ?? Infinity,
    receiveMaximum: Math.min(packet.properties?.receiveMaximum ?? 65_535, maxInflight),
  };
}

/** What an MQTT 5 CONNACK tells the client it accepts: what this server supports, and what it chose for the client. */
export function connackProperties(
  terms: ConnectTerms,
  maximumPacketSize: number,
): NonNullable<IConnackPacket['properties']> {
  return {
    maximumQoS: 1,
    retainAvailable: true,
    wildcardSubscriptionAvailable: true,
    subscriptionIdentifiersAvailable: false,
    sharedSubscriptionAvailable: false,
    maximumPacketSize,
    topicAliasMaximum: 0,
    ...(terms.assigned ? { assignedClientIdentifier: terms.clientId } : {}),
    ...(terms.sessionTtlMs > 0 ? { sessionExpiryInterval: Math.floor(terms.sessionTtlMs / 1000) } : {}),
  };
}
