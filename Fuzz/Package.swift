// swift-tools-version:6.0
// libFuzzer targets for ModelFool's readers of untrusted bytes, one executable per reader. Kept
// out of the main package because they need `-sanitize=fuzzer,address`, which is passed on the
// command line (`make fuzz`), never through unsafeFlags:
//
//   cd Fuzz && swift build -c release -Xswiftc -sanitize=fuzzer,address --product fuzz-torch
//   .build/release/fuzz-torch -rss_limit_mb=1024 -timeout=5 .build/work/torch corpus/torch
//
// The entry points (Sources/FuzzEntries/FuzzedReaders.swift) are shared with the main package's
// test suite, which replays every file under corpus/ once without the fuzzer.
import PackageDescription

let readers = ["torch", "checkpoint", "csv", "gzip", "jpeg", "png", "onnx", "sidefiles"]

func targetName(_ reader: String) -> String { "Fuzz" + reader.prefix(1).uppercased() + reader.dropFirst() }

let package = Package(
  name: "ModelFoolFuzz",
  products: readers.map { .executable(name: "fuzz-\($0)", targets: [targetName($0)]) },
  dependencies: [.package(name: "ModelFool", path: "..")],
  targets: [
    .target(name: "FuzzEntries", dependencies: [
      .product(name: "ModelFoolData", package: "ModelFool"),
      .product(name: "ModelFoolTraining", package: "ModelFool"),
    ]),
  ] + readers.map {
    .executableTarget(name: targetName($0), dependencies: ["FuzzEntries"], path: "Sources/\(targetName($0))")
  }
)
