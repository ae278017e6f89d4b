// The registry of client protocols: which subprotocol a client gets among those it offers.

import test from 'ava';
import { subprotocols } from '../shared/protocol.js';
import { adapterFor, chooseSubprotocol } from '../edge/protocol-adapters.js';

test('msgpack before json; nothing of ours means native json', (t) => {
  t.is(chooseSubprotocol(new Set([subprotocols.json, subprotocols.msgpack])), subprotocols.msgpack);
  t.is(chooseSubprotocol(new Set([subprotocols.json])), subprotocols.json);
  t.is(chooseSubprotocol(new Set(['chat', 'superchat'])), false);
  t.is(adapterFor('').nativeFormat, 'json');
  t.is(adapterFor(subprotocols.msgpack).nativeFormat, 'msgpack');
});

test('MQTT clients (mqtt.js offers `mqtt`) get the MQTT adapter', (t) => {
  t.is(chooseSubprotocol(new Set(['mqtt'])), 'mqtt');
  t.is(adapterFor('mqtt').protocol, 'mqtt');
  // MQTT 3.1's subprotocol is not ours: such a client gets no subprotocol back.
  t.is(chooseSubprotocol(new Set(['mqttv3.1'])), false);
});
