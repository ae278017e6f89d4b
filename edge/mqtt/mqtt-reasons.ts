// MQTT return and reason codes (3.1.1 §3.2.2.3, 5 §2.4) and how relaymesh's error and close codes map onto them,
// so an MQTT client learns in its own protocol's terms why something was refused.

import { closeCodes, type ErrorCode } from '../../shared/errors.js';

/** MQTT 5 reason codes that relaymesh sends. */
export const reason = {
  success: 0x00,
  disconnectWithWill: 0x04,
  noSubscriptionExisted: 0x11,
  unspecified: 0x80,
  malformedPacket: 0x81,
  protocolError: 0x82,
  implementationSpecific: 0x83,
  unsupportedProtocolVersion: 0x84,
  clientIdNotValid: 0x85,
  badUserNameOrPassword: 0x86,
  notAuthorized: 0x87,
  serverUnavailable: 0x88,
  serverShuttingDown: 0x8b,
  badAuthenticationMethod: 0x8c,
  keepAliveTimeout: 0x8d,
  sessionTakenOver: 0x8e,
  topicFilterInvalid: 0x8f,
  topicNameInvalid: 0x90,
  topicAliasInvalid: 0x94,
  packetTooLarge: 0x95,
  messageRateTooHigh: 0x96,
  quotaExceeded: 0x97,
  payloadFormatInvalid: 0x99,
  qosNotSupported: 0x9b,
  useAnotherServer: 0x9c,
  sharedSubscriptionsNotSupported: 0x9e,
  subscriptionIdentifiersNotSupported: 0xa1,
} as const;

/** MQTT 3.1.1 CONNACK return codes. */
export const returnCode = {
  accepted: 0,
  unacceptableProtocolVersion: 1,
  identifierRejected: 2,
  serverUnavailable: 3,
  badUserNameOrPassword: 4,
  notAuthorized: 5,
} as const;

/** The 3.1.1 SUBACK failure code (5 has reason codes instead). */
export const subackFailure = 0x80;

/** A refused request's reason code in SUBACK, UNSUBACK (`filter`) or PUBACK and DISCONNECT (`name`) (MQTT 5). */
export function reasonOfError(code: ErrorCode, topic: 'filter' | 'name'): number {
  switch (code) {
    case 'forbidden':
      return reason.notAuthorized;
    case 'unauthorized':
      return reason.notAuthorized;
    case 'invalid_topic':
      return topic === 'filter' ? reason.topicFilterInvalid : reason.topicNameInvalid;
    case 'too_large':
      return reason.packetTooLarge;
    case 'rate_limited':
    case 'too_many_subscriptions':
      return reason.quotaExceeded;
    case 'bad_request':
      return reason.payloadFormatInvalid;
    case 'internal':
      return reason.implementationSpecific;
    default:
      return reason.unspecified;
  }
}

/** The DISCONNECT reason code (MQTT 5) for a connection that relaymesh closes with `closeCode`. */
export function reasonOfClose(closeCode: number): number {
  switch (closeCode) {
    case closeCodes.normal:
      return reason.success;
    case closeCodes.messageTooBig:
      return reason.packetTooLarge;
    case closeCodes.protocolViolation:
      return reason.protocolError;
    case closeCodes.unauthorized:
      return reason.notAuthorized;
    case closeCodes.draining:
      return reason.serverShuttingDown;
    case closeCodes.slowConsumer:
      return reason.quotaExceeded;
    case closeCodes.rateLimited:
      return reason.messageRateTooHigh;
    default:
      return reason.unspecified;
  }
}
