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

  @Test func missingRootNamesTheFile() {
    #expect(ShippedDatasets.dataErrorMessage { _ = try DatasetCatalog.load("compas", root: "/nonexistent") }
      == "/nonexistent/compas/compas-scores-two-years.csv: file not found or unreadable")
  }
}
