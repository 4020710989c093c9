import Foundation
import Testing

/// A user's own table through the command line: `train --csv --schema` records where the table
/// is, and later commands take it as their default data.
@Suite("modelfool binary: your own table")
struct TableCLITests {
  static let schema = CLI.packageRoot + "/docs/examples/adult.schema.json"
  static let csv = CLI.packageRoot + "/datasets/adult/adult.data"

  @Test func aModelTrainedOnATableFindsItAgain() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let trained = try CLI.run(["train", "--csv", Self.csv, "--schema", Self.schema, "--epochs", "1", "--out", "own.h5", "--json"], in: folder)
    #expect(trained.status == 0, "\(trained.stderr)")
    let scored = try CLI.run(["evaluate", "--model", "own.h5", "--json"], in: folder)
    #expect(scored.status == 0, "\(scored.stderr)")
    #expect(try scored.object()["count"] as? Int == 16_281)
    let catalogue = try CLI.run(["train", "--dataset", "adult", "--epochs", "1", "--out", "cat.h5", "--json"], in: folder)
    let again = try CLI.run(["evaluate", "--model", "cat.h5", "--dataset", "adult", "--json"], in: folder)
    #expect(catalogue.status == 0 && again.status == 0)
    // The same rows and seed: the same model, the same accuracy.
    #expect(try scored.object()["top1"] as? Double == (try again.object()["top1"] as? Double))
  }

  @Test(arguments: [
    (["train", "--csv", "x.csv"], "a CSV table and its schema go together"),
    (["train", "--dataset", "german", "--csv", csv, "--schema", schema], "give one data source, not 2: data set german, table"),
    (["train", "--csv", csv, "--schema", "missing.json"], "missing.json: file not found"),
  ])
  func badTableInvocationsAreOneLine(_ arguments: [String], _ error: String) throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let r = try CLI.run(arguments, in: folder)
    let lines = r.stderr.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n")
    #expect(r.status != 0 && !r.signalled && lines.count == 1 && lines[0].hasPrefix("Error: ") && r.stderr.contains(error), "\(r.stderr)")
  }
}
