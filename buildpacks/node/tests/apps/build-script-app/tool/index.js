// A build-time tool (a dev dependency): "compiles" by stamping the sources.
exports.compile = (source) => `// compiled by tool\n${source}`;
