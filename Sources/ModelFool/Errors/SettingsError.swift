/// An error about values a caller chose: it names, besides its one-line message in the library's
/// own terms, the settings it concerns by their names in the settings documents (`layer`,
/// `learningRate`, `lambda`, ...), most relevant first. A front end maps them to its own words:
/// the command-line tool appends the flags that set them.
public protocol SettingsError: Error, CustomStringConvertible {
  /// The settings the error is about; empty when none applies.
  var settings: [String] { get }
}
