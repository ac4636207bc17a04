#pragma once
// Plain-text tables: a header row and aligned columns, like `docker ps`.

#include <ostream>
#include <string>
#include <vector>

namespace vmctl {

class Table {
  public:
    explicit Table(std::vector<std::string> headers);
    void add(std::vector<std::string> row);  // as many cells as headers
    // Columns padded to their widest cell, two spaces apart, no trailing blanks.
    void print(std::ostream& out) const;

  private:
    std::vector<std::string> headers_;
    std::vector<std::vector<std::string>> rows_;
};

// "key: value" lines, the keys padded to one width (for `show`).
void print_fields(std::ostream& out,
                  const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace vmctl
