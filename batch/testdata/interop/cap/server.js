// CAP's own server listens on every interface; the interop test
// (batch/interop_cap_test.go) talks to it on loopback only, so this
// bootstrap, which cds-serve loads from the project root, binds the
// port there. PORT=0 lets the system pick it; the test reads it from
// the "server listening on" line.
const cds = require('@sap/cds')

cds.on('bootstrap', app => {
  const listen = app.listen
  app.listen = function (port, ...rest) {
    return listen.call(this, port, '127.0.0.1', ...rest)
  }
})

module.exports = cds.server
