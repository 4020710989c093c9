// libFuzzer target for FuzzedReader.png. SwiftPM compiles a one-file executable target as a main
// file (top-level code), whose `main` would shadow libFuzzer's; so the top-level code below hands
// control to libFuzzer's driver itself (no -parse-as-library flag needed).
import FuzzEntries
import Foundation

/// One input: a crash, or an error that is not one line, stops the run.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
  let bytes = data.map { [UInt8](UnsafeBufferPointer(start: $0, count: size)) } ?? []
  if let problem = FuzzedReader.png.feed(bytes) { fatalError(problem) }
  return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
  _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
  _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(runFuzzerDriver(&argc, &argv, fuzzOneInput))
