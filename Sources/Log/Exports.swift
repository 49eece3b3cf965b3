// The project logs through swift-log's `Logger`; this module supplies its handler (a writer
// thread behind a bounded queue, so no event loop ever waits on stderr) and the field-list
// convenience the rest of the code calls. `import Log` is all a file needs.
@_exported import Logging
