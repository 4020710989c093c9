// swift-tools-version:6.0
// A package that uses ModelFool the way an application would: as a dependency (here by path, so
// that CI builds the working tree). `make consumer-check` builds and runs it.
import PackageDescription

let package = Package(
  name: "ModelFoolConsumer",
  dependencies: [
    .package(name: "ModelFool", path: "../..")
  ],
  targets: [
    .executableTarget(
      name: "ModelFoolConsumer",
      dependencies: [.product(name: "ModelFool", package: "ModelFool")],
      path: "Sources/ModelFoolConsumer")
  ]
)
