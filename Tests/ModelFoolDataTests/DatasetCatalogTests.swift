import Foundation
import ModelFoolData
import Testing

@Suite struct DatasetCatalogTests {
  @Test func namesAndUnknownName() {
    #expect(DatasetCatalog.names == ["digits", "adult", "german", "compas", "imagenet-sample"])
    #expect(ShippedDatasets.dataErrorMessage { _ = try DatasetCatalog.load("mnist", root: ShippedDatasets.root) }
      == "unknown dataset 'mnist' (known: digits, adult, german, compas, imagenet-sample)")
  }

  @Test func loadsByName() throws {
    let german = try DatasetCatalog.load("german", root: ShippedDatasets.root)
    #expect(german.train.name == "german" && german.train.count == 800)
    let digits = try DatasetCatalog.load("digits", root: ShippedDatasets.root)
    #expect(digits.test.count == 1000 && digits.test.exampleShape == [1, 28, 28])
  }

  @Test func missingRootIsNamed() throws {
    #expect(ShippedDatasets.dataErrorMessage { _ = try DatasetCatalog.load("compas", root: "/nonexistent") }
      == "/nonexistent: datasets folder not found")
    let empty = try ShippedDatasets.temporaryFolder("root")
    defer { try? FileManager.default.removeItem(atPath: empty) }
    #expect(ShippedDatasets.dataErrorMessage { _ = try DatasetCatalog.load("compas", root: empty) }
      == "\(empty)/compas/compas-scores-two-years.csv: file not found or unreadable")
  }

  @Test func searchOrder() {
    let env = ["MODELFOOL_DATASETS": "/env/data"]
    let flag = DatasetCatalog.rootCandidates(flag: "mine", environment: env, currentDirectory: "/w", executable: "/opt/mf/bin/modelfool")
    #expect(flag == [.init(source: "--datasets-root", path: "mine")])
    #expect(DatasetCatalog.rootCandidates(flag: nil, environment: env, currentDirectory: "/w", executable: nil)
      == [.init(source: "$MODELFOOL_DATASETS", path: "/env/data")])
    #expect(DatasetCatalog.rootCandidates(flag: nil, environment: [:], currentDirectory: "/w", executable: "/opt/mf/bin/modelfool")
      == [.init(source: "./datasets", path: "datasets"), .init(source: "install", path: "/opt/mf/share/modelfool/datasets")])
    #expect(DatasetCatalog.rootCandidates(flag: nil, environment: [:], currentDirectory: "/w", executable: "/src/mf/.build/x86_64-unknown-linux-gnu/release/modelfool")
      == [.init(source: "./datasets", path: "datasets"),
          .init(source: "install", path: "/src/mf/.build/x86_64-unknown-linux-gnu/share/modelfool/datasets"),
          .init(source: "checkout", path: "/src/mf/datasets")])
  }

  @Test func resolvesTheInstallFolderAndNamesThePlacesTried() throws {
    let prefix = URL(fileURLWithPath: try ShippedDatasets.temporaryFolder("prefix")).resolvingSymlinksInPath().path
    defer { try? FileManager.default.removeItem(atPath: prefix) }
    let binary = prefix + "/bin/modelfool"
    let missing = ShippedDatasets.dataErrorMessage {
      _ = try DatasetCatalog.resolveRoot(flag: nil, environment: [:], currentDirectory: prefix, executable: binary)
    }
    #expect(missing == "datasets folder not found (tried ./datasets, install \(prefix)/share/modelfool/datasets); pass --datasets-root or set MODELFOOL_DATASETS")
    try FileManager.default.createDirectory(atPath: prefix + "/share/modelfool/datasets", withIntermediateDirectories: true)
    #expect(try DatasetCatalog.resolveRoot(flag: nil, environment: [:], currentDirectory: prefix, executable: binary)
      == prefix + "/share/modelfool/datasets")
    // ./datasets comes first, relative to the current folder.
    try FileManager.default.createDirectory(atPath: prefix + "/datasets", withIntermediateDirectories: true)
    #expect(try DatasetCatalog.resolveRoot(flag: nil, environment: [:], currentDirectory: prefix, executable: binary) == "datasets")
    #expect(ShippedDatasets.dataErrorMessage {
      _ = try DatasetCatalog.resolveRoot(flag: nil, environment: ["MODELFOOL_DATASETS": "/no/such"], currentDirectory: prefix, executable: binary)
    } == "datasets folder not found (tried $MODELFOOL_DATASETS /no/such)")
  }
}
