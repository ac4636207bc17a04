#include "supervisor/vmctl/table.h"

#include <algorithm>

#include "base/error.h"

namespace vmctl {

namespace {

// Width on a terminal: UTF-8 continuation bytes take no column.
std::size_t display_width(const std::string& s) {
    return static_cast<std::size_t>(
        std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

void print_row(std::ostream& out, const std::vector<std::string>& cells,
               const std::vector<std::size_t>& widths) {
    std::string line;
    for (std::size_t i = 0; i < cells.size(); ++i) {
        line += cells[i];
        if (i + 1 < cells.size()) {
            line.append(widths[i] - display_width(cells[i]) + 2, ' ');
        }
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out << line << '\n';
}

}  // namespace

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::add(std::vector<std::string> row) {
    if (row.size() != headers_.size()) {
        throw base::InternalError("a table row has " + std::to_string(row.size()) + " cells for " +
                                  std::to_string(headers_.size()) + " columns");
    }
    rows_.push_back(std::move(row));
}

void Table::print(std::ostream& out) const {
    std::vector<std::size_t> widths(headers_.size());
    for (std::size_t i = 0; i < headers_.size(); ++i) {
        widths[i] = display_width(headers_[i]);
        for (const auto& row : rows_) {
            widths[i] = std::max(widths[i], display_width(row[i]));
        }
    }
    print_row(out, headers_, widths);
    for (const auto& row : rows_) {
        print_row(out, row, widths);
    }
}

void print_fields(std::ostream& out,
                  const std::vector<std::pair<std::string, std::string>>& fields) {
    std::size_t width = 0;
    for (const auto& [key, value] : fields) {
        width = std::max(width, display_width(key));
    }
    for (const auto& [key, value] : fields) {
        std::string line = key + ":";
        line.append(width - display_width(key) + 1, ' ');
        line += value;
        line.erase(line.find_last_not_of(' ') + 1);
        out << line << '\n';
    }
}

}  // namespace vmctl
