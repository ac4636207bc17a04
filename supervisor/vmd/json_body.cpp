#include "supervisor/vmd/json_body.h"

#include "base/error.h"

namespace supervisor::vmd {

JsonBody::JsonBody(const std::string& text, bool empty_ok) {
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
        if (!empty_ok) {
            throw base::InvalidInput("the request needs a JSON object as its body");
        }
        object_ = nlohmann::json::object();
        return;
    }
    try {
        object_ = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        throw base::InvalidInput(std::string("the body is not valid JSON: ") + e.what());
    }
    if (!object_.is_object()) {
        throw base::InvalidInput("the body must be a JSON object, not " +
                                 std::string(object_.type_name()));
    }
}

const nlohmann::json* JsonBody::get(const std::string& key) {
    seen_.insert(key);
    const auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) {
        return nullptr;
    }
    return &*it;
}

std::string JsonBody::string(const std::string& key) {
    auto v = optional_string(key);
    if (!v) {
        throw base::InvalidInput("the field \"" + key + "\" is missing");
    }
    return *v;
}

std::optional<std::string> JsonBody::optional_string(const std::string& key) {
    const nlohmann::json* v = get(key);
    if (v == nullptr) {
        return std::nullopt;
    }
    if (!v->is_string()) {
        throw base::InvalidInput("the field \"" + key + "\" must be a string, not " +
                                 v->type_name());
    }
    return v->get<std::string>();
}

std::int64_t JsonBody::integer(const std::string& key, std::int64_t fallback, std::int64_t min,
                               std::int64_t max) {
    const nlohmann::json* v = get(key);
    if (v == nullptr) {
        return fallback;
    }
    if (!v->is_number_integer()) {
        throw base::InvalidInput("the field \"" + key + "\" must be a whole number, not " +
                                 (v->is_number() ? "a fraction" : v->type_name()));
    }
    const bool negative = v->is_number_integer() && !v->is_number_unsigned();
    const std::int64_t n = negative ? v->get<std::int64_t>() : 0;
    const std::uint64_t u = negative ? 0 : v->get<std::uint64_t>();
    if ((negative && (n < min || n > max)) || (!negative && (u > static_cast<std::uint64_t>(max) ||
                                                             static_cast<std::int64_t>(u) < min))) {
        throw base::InvalidInput("the field \"" + key + "\" must be from " + std::to_string(min) +
                                 " to " + std::to_string(max) + ", not " + v->dump());
    }
    return negative ? n : static_cast<std::int64_t>(u);
}

bool JsonBody::boolean(const std::string& key, bool fallback) {
    const nlohmann::json* v = get(key);
    if (v == nullptr) {
        return fallback;
    }
    if (!v->is_boolean()) {
        throw base::InvalidInput("the field \"" + key + "\" must be true or false, not " +
                                 v->dump());
    }
    return v->get<bool>();
}

std::vector<std::string> JsonBody::strings(const std::string& key) {
    const nlohmann::json* v = get(key);
    std::vector<std::string> out;
    if (v == nullptr) {
        return out;
    }
    if (!v->is_array()) {
        throw base::InvalidInput("the field \"" + key + "\" must be an array of strings");
    }
    for (const auto& item : *v) {
        if (!item.is_string()) {
            throw base::InvalidInput("the field \"" + key + "\" must hold only strings, not " +
                                     item.dump());
        }
        out.push_back(item.get<std::string>());
    }
    return out;
}

void JsonBody::finish() const {
    for (const auto& [key, value] : object_.items()) {
        if (seen_.count(key) == 0) {
            throw base::InvalidInput("unknown field \"" + key + "\"");
        }
    }
}

}  // namespace supervisor::vmd
