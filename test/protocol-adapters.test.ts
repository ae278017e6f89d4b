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
