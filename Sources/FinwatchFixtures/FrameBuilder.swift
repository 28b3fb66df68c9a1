import FinwatchCore

/// Builds captured frames byte by byte for tests and the benchmark generator.
package enum FrameBuilder {}
