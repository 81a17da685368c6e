// A mikrobill payment plugin in Node.js. protocol.js speaks the plugin
// protocol (docs/plugin-protocol.md); gateway.js is the gateway.
'use strict';

const { serve } = require('./protocol');
const { makeGateway } = require('./gateway');

serve(makeGateway);
