#pragma once
// A request body read strictly: a JSON object whose fields have the types
// asked for, within range, and no field that nobody asked for (a typo must
// not be ignored silently). Every failure throws InvalidInput (HTTP 400)
// naming the field.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace supervisor::vmd {

class JsonBody {
  public:
    // An empty body counts as {} when `empty_ok`.
    JsonBody(const std::string& text, bool empty_ok);

    std::string string(const std::string& key);  // required
    std::optional<std::string> optional_string(const std::string& key);
    std::int64_t integer(const std::string& key, std::int64_t fallback, std::int64_t min,
                         std::int64_t max);
    bool boolean(const std::string& key, bool fallback);
    std::vector<std::string> strings(const std::string& key);  // absent: empty
    bool has(const std::string& key) const { return object_.contains(key); }

    // Refuses the fields no call above asked for.
    void finish() const;
    const nlohmann::json& json() const { return object_; }

  private:
    const nlohmann::json* get(const std::string& key);
    nlohmann::json object_;
    std::set<std::string> seen_;
};

}  // namespace supervisor::vmd
