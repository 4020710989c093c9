import Foundation
import ModelFool
import ModelFoolData
import Testing

/// A user's own table through a schema: the shipped Adult files read with
/// docs/examples/adult.schema.json give the catalogue's Adult exactly, and hostile tables and
/// schemas are one-line errors.
@Suite("CSV tables with a schema")
struct CSVTableSourceTests {
  static let schemaPath = URL(fileURLWithPath: ShippedDatasets.root).deletingLastPathComponent()
    .appendingPathComponent("docs/examples/adult.schema.json").path

  @Test func adultThroughTheSchemaIsTheCatalogueEntry() throws {
    let own = try CSVTableSource.load(csv: ShippedDatasets.root + "/adult/adult.data", schemaPath: Self.schemaPath)
    let catalogue = try AdultDataset.loadTabular(root: ShippedDatasets.root)
    #expect(own.split.train.count == 32_561 && own.split.test.count == 16_281)
    #expect(own.split.train.name == "adult-csv")
    for (a, b) in [(own.split.train, catalogue.split.train), (own.split.test, catalogue.split.test)] {
      #expect(a.inputs.shape == b.inputs.shape && a.labels == b.labels && a.classNames == b.classNames)
      #expect(a.inputs.scalars == b.inputs.scalars)
    }
    #expect(own.encoder.features == catalogue.encoder.features)
    #expect(own.encoder.features.filter(\.isSensitive).map(\.name) == ["age", "race", "sex"])
  }

  /// A small table written here: categories, a log1p column, a split column, missing values.
  static let table = """
    id,colour,amount,part,y
    1,red,0,train,yes
    2,blue,3,train,no
    3,?,1,test,yes
    4,red,?,train,no
    5,green,7,test,no
    6,blue,2,train,yes

    """

  static func schema(missing: String, split: String = #"{"column": "part", "test_value": "test"}"#, extra: String = "") -> String {
    """
    {"format": "modelfool-csv-schema", "version": 1, "name": "tiny",
     "label": {"column": "y", "classes": [{"name": "no", "values": ["no"]}, {"name": "yes", "values": ["yes"]}], "favourable": "yes"},
     "features": [{"name": "colour", "kind": "categorical", "sensitive": true}, {"name": "amount", "kind": "numeric", "log1p": true}\(extra)],
     "missing": {"values": ["?"], "rows": "\(missing)"}, "split": \(split)}
    """
  }

  static func files(_ csv: String, _ schema: String) throws -> (csv: String, schema: String) {
    let folder = try ShippedDatasets.temporaryFolder("csvschema")
    return (try ShippedDatasets.write(Array(csv.utf8), to: folder, "t.csv"), try ShippedDatasets.write(Array(schema.utf8), to: folder, "s.json"))
  }

  /// Dropping rows with a missing value keeps rows 1, 2, 5, 6; the split column puts row 5 in the
  /// test part; `amount` is log1p'd and standardised on the three training rows.
  @Test func missingRowsDroppedAndSplitByColumn() throws {
    let (csv, schema) = try Self.files(Self.table, Self.schema(missing: "drop"))
    let s = try CSVTableSource.load(csv: csv, schemaPath: schema)
    #expect(s.split.train.labels == [1, 0, 1] && s.split.test.labels == [0])
    #expect(s.encoder.features.map(\.name) == ["colour", "amount"] && s.encoder.categories[0] == ["blue", "green", "red"])
    let logs = [0.0, 3.0, 2.0].map { Foundation.log1p($0) }
    let mean = logs.reduce(0, +) / 3
    let sd = (logs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 3).squareRoot()
    let x = s.split.train.inputs.scalars
    // Row "1,red,0": one-hot red, then the standardised amount.
    #expect(Array(x[0..<3]) == [0, 0, 1] && abs(Double(x[3]) - (logs[0] - mean) / sd) < 1e-6)
    #expect(s.split.train.features[0].isSensitive && !s.split.train.features[1].isSensitive)
  }

  /// `category` keeps a missing categorical value as its own category; a missing number stays an error.
  @Test func missingCategoriesAreKeptButNumbersAreNot() throws {
    let (csv, schema) = try Self.files(Self.table, Self.schema(missing: "category"))
    #expect { try CSVTableSource.load(csv: csv, schemaPath: schema) } throws: {
      "\($0)".hasSuffix("t.csv: line 5: amount is missing ('?'; the schema's missing.rows is category)")
    }
    let noMissingNumber = Self.table.replacingOccurrences(of: "4,red,?,train,no", with: "4,red,5,train,no")
    let (csv2, schema2) = try Self.files(noMissingNumber, Self.schema(missing: "category"))
    let s = try CSVTableSource.load(csv: csv2, schemaPath: schema2)
    #expect(s.encoder.categories[0] == ["?", "blue", "green", "red"] && s.split.test.count == 2)
  }

  /// The seeded split is the catalogue's stratified split: the same rows for the same seed.
  @Test func seededSplitIsStratifiedAndReproducible() throws {
    let rows = (0..<50).map { "\($0),\(["a", "b"][$0 % 2]),\($0),x,\($0 % 5 == 0 ? "yes" : "no")" }.joined(separator: "\n")
    let split = #"{"test_fraction": 0.2, "seed": 3}"#
    let (csv, schema) = try Self.files("id,colour,amount,part,y\n" + rows + "\n", Self.schema(missing: "error", split: split))
    let a = try CSVTableSource.load(csv: csv, schemaPath: schema), b = try CSVTableSource.load(csv: csv, schemaPath: schema)
    #expect(a.split.test.count == 10 && a.split.test.labels.filter { $0 == 1 }.count == 2)
    #expect(a.split.test.inputs.scalars == b.split.test.inputs.scalars)
  }

  struct Hostile: CustomTestStringConvertible, Sendable {
    let name: String, csv: String, schema: String, error: String
    var testDescription: String { name }
  }

  static let hostile: [Hostile] = {
    let ok = schema(missing: "drop")
    let many = "id,colour,amount,part,y\n" + (0..<1_500).map { "\($0),c\($0),1,train,\($0 % 2 == 0 ? "yes" : "no")" }.joined(separator: "\n") + "\n"
    return [
      Hostile(name: "ragged row", csv: "id,colour,amount,part,y\n1,red,0,train,yes\n2,blue,3\n", schema: ok, error: "t.csv: line 3: expected 5 fields, found 3"),
      Hostile(name: "1,500 categories", csv: many, schema: ok, error: "t.csv: colour has more than 1000 categories"),
      Hostile(name: "missing column", csv: table, schema: ok.replacingOccurrences(of: "\"amount\"", with: "\"amont\""),
              error: "t.csv: no column 'amont' (features in the schema; columns: id, colour, amount, part, y)"),
      Hostile(name: "label with one value", csv: table.replacingOccurrences(of: ",no\n", with: ",yes\n"), schema: ok,
              error: "the label takes one value (yes) in every row: a classifier needs two"),
      Hostile(name: "unknown label value", csv: table.replacingOccurrences(of: "5,green,7,test,no", with: "5,green,7,test,maybe"), schema: ok,
              error: "t.csv: line 6: label 'maybe' is none of the schema's class values"),
      Hostile(name: "not JSON", csv: table, schema: "{", error: "s.json: not a valid CSV schema: not JSON"),
      Hostile(name: "missing field", csv: table, schema: #"{"format": "modelfool-csv-schema", "version": 1, "name": "x"}"#,
              error: "s.json: not a valid CSV schema: missing field 'label'"),
      Hostile(name: "newer version", csv: table, schema: ok.replacingOccurrences(of: "\"version\": 1", with: "\"version\": 9"),
              error: "s.json: version: this release reads version 1, got 9"),
      Hostile(name: "one class", csv: table, schema: ok.replacingOccurrences(of: #"{"name": "no", "values": ["no"]}, "#, with: ""),
              error: "s.json: label.classes: a label needs at least two classes, got 1"),
      Hostile(name: "value in two classes", csv: table, schema: ok.replacingOccurrences(of: #""values": ["no"]"#, with: #""values": ["no", "yes"]"#),
              error: "s.json: label.classes: a value belongs to two classes"),
      Hostile(name: "label as a feature", csv: table, schema: schema(missing: "drop", extra: #", {"name": "y", "kind": "categorical"}"#),
              error: "s.json: features: the label column 'y' cannot be a feature"),
      Hostile(name: "duplicate feature", csv: table, schema: schema(missing: "drop", extra: #", {"name": "amount", "kind": "numeric"}"#),
              error: "s.json: features: a feature appears twice"),
      Hostile(name: "escaping test file", csv: table, schema: schema(missing: "drop", split: #"{"test_file": "../secret.csv"}"#),
              error: "s.json: split.test_file: a file name inside the CSV file's folder, got '../secret.csv'"),
      Hostile(name: "two split ways", csv: table, schema: schema(missing: "drop", split: #"{"test_file": "a.csv", "test_fraction": 0.5}"#),
              error: "s.json: split: give one of column, test_file or test_fraction"),
      Hostile(name: "fraction 1", csv: table, schema: schema(missing: "drop", split: #"{"test_fraction": 1}"#),
              error: "s.json: split.test_fraction: must lie strictly between 0 and 1, got 1.0"),
      Hostile(name: "unfavourable favourite", csv: table, schema: ok.replacingOccurrences(of: #""favourable": "yes""#, with: #""favourable": "maybe""#),
              error: "s.json: label.favourable: 'maybe' is not one of the classes"),
      Hostile(name: "empty split part", csv: table.replacingOccurrences(of: ",test,", with: ",train,"), schema: ok,
              error: "t.csv: the split column gives 0 test and 4 training rows: both parts need rows"),
    ]
  }()

  @Test(arguments: hostile) func hostileTablesAndSchemasAreOneLineErrors(_ h: Hostile) throws {
    let (csv, schema) = try Self.files(h.csv, h.schema)
    #expect { try CSVTableSource.load(csv: csv, schemaPath: schema) } throws: { error in
      let text = "\(error)"
      return error is DataError && text.contains(h.error) && !text.contains("\n")
    }
  }
}
