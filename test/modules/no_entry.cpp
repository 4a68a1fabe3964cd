// A library built as a loadable module that defines no module (test_no_entry): it has no entry
// point (microlith::module_entry_symbol), which a loader must report.
extern "C" int microlith_test_no_entry_answer() {
  return 42;
}
