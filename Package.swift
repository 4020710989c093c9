// swift-tools-version:6.0
import PackageDescription

let package = Package(
  name: "ModelFool",
  products: [
    .library(name: "ModelFool", targets: ["ModelFool"]),
    .library(name: "ModelFoolTraining", targets: ["ModelFoolTraining"]),
    .library(name: "ModelFoolData", targets: ["ModelFoolData"]),
    .library(name: "ModelFoolBenchmarks", targets: ["ModelFoolBenchmarks"]),
    .library(name: "ModelFoolDistributed", targets: ["ModelFoolDistributed"]),
    .executable(name: "modelfool", targets: ["ModelFoolCLI"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    // Protocol buffers, for ONNX models (Sources/Data/Formats/ONNX; `make onnx-proto` regenerates the code).
    .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
  ],
  targets: [
    .systemLibrary(
      name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
      providers: [.apt(["libopenblas-dev"])]),
    .systemLibrary(
      name: "CHDF5", path: "Sources/CHDF5", pkgConfig: "hdf5",
      providers: [.apt(["libhdf5-dev"])]),
    .systemLibrary(
      name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng",
      providers: [.apt(["libpng-dev"])]),
    .systemLibrary(
      name: "CJPEG", path: "Sources/CJPEG", pkgConfig: "libjpeg",
      providers: [.apt(["libjpeg62-turbo-dev"])]),
    .systemLibrary(
      name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
      providers: [.apt(["zlib1g-dev"])]),
    // Open MPI, for data parallelism across processes (ModelFoolDistributed); the library core
    // does not depend on it.
    .systemLibrary(
      name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
      providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
    // oneDNN, for convolutions (Debian ships no pkg-config file for it: the header and library are
    // on the default paths).
    .systemLibrary(
      name: "CDNNL", path: "Sources/CDNNL", providers: [.apt(["libdnnl-dev"])]),
    .target(
      name: "ModelFool", dependencies: ["CBLAS", "CDNNL"], path: "Sources/ModelFool"),
    .target(
      name: "ModelFoolData",
      dependencies: [
        "ModelFool", "CHDF5", "CPNG", "CJPEG", "CZlib", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      path: "Sources/Data", exclude: ["Formats/ONNX/onnx.proto"]),
    // The release and the git commit of the build (`ModelFoolVersion`); a tiny target, so that a
    // new commit recompiles only this file.
    .target(
      name: "ModelFoolVersionInfo", path: "Sources/Version",
      plugins: [.plugin(name: "GitCommitPlugin")]),
    .plugin(name: "GitCommitPlugin", capability: .buildTool(), path: "Plugins/GitCommitPlugin"),
    .target(
      name: "ModelFoolTraining", dependencies: ["ModelFool", "ModelFoolData", "ModelFoolVersionInfo"],
      path: "Sources/Training"),
    .target(
      name: "ModelFoolBenchmarks", dependencies: ["ModelFool", "ModelFoolTraining", "CBLAS"],
      path: "Sources/Benchmarks"),
    // `Communicator` on Open MPI; MPI is initialised only in a process started by `mpirun`.
    .target(
      name: "ModelFoolDistributed", dependencies: ["ModelFoolTraining", "CMPI"], path: "Sources/Distributed"),
    .executableTarget(
      name: "ModelFoolCLI",
      dependencies: [
        "ModelFool", "ModelFoolData", "ModelFoolTraining", "ModelFoolVersionInfo", "ModelFoolBenchmarks", "ModelFoolDistributed",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      path: "Sources/modelfool"),
    .target(name: "TestSupport", dependencies: ["ModelFool"], path: "Tests/TestSupport"),
    .testTarget(
      name: "ModelFoolTests", dependencies: ["ModelFool", "TestSupport"],
      path: "Tests/ModelFoolTests"),
    .testTarget(
      name: "ModelFoolDataTests", dependencies: ["ModelFoolData", "TestSupport"],
      path: "Tests/ModelFoolDataTests"),
    .testTarget(
      name: "ModelFoolTrainingTests",
      dependencies: ["ModelFoolTraining", "ModelFoolData", "TestSupport"],
      path: "Tests/ModelFoolTrainingTests"),
    // Runs the built `modelfool` binary (found next to the test bundle, or at $MODELFOOL_BIN).
    .testTarget(
      name: "CLITests", dependencies: ["ModelFoolVersionInfo", "ModelFoolData"], path: "Tests/CLITests"),
  ]
)
