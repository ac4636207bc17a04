#include "supervisor/vmd/api.h"

#include <limits>
#include <map>
#include <set>

#include "base/error.h"
#include "supervisor/vmd/api_error.h"
#include "supervisor/vmd/reply.h"

namespace supervisor::vmd {

namespace {

std::vector<std::string> segments(const std::string& path) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < path.size()) {
        std::size_t slash = path.find('/', start);
        if (slash == std::string::npos) {
            slash = path.size();
        }
        if (slash > start) {
            out.push_back(path.substr(start, slash - start));
        }
        start = slash + 1;
    }
    return out;
}

// The query, checked: only `allowed` names, each at most once.
class Query {
  public:
    Query(const std::vector<std::pair<std::string, std::string>>& pairs,
          const std::set<std::string>& allowed) {
        for (const auto& [name, value] : pairs) {
            if (allowed.count(name) == 0) {
                throw base::InvalidInput("unknown query parameter '" + name + "'");
            }
            if (!values_.emplace(name, value).second) {
                throw base::InvalidInput("query parameter '" + name + "' is given twice");
            }
        }
    }
    bool flag(const std::string& name) const {
        const auto it = values_.find(name);
        if (it == values_.end()) {
            return false;
        }
        if (it->second == "true" || it->second == "1" || it->second.empty()) {
            return true;
        }
        if (it->second == "false" || it->second == "0") {
            return false;
        }
        throw base::InvalidInput("query parameter '" + name + "' must be true or false, not '" +
                                 it->second + "'");
    }
    std::int64_t number(const std::string& name, std::int64_t fallback, std::int64_t min,
                        std::int64_t max) const {
        const auto it = values_.find(name);
        if (it == values_.end()) {
            return fallback;
        }
        const std::string& v = it->second;
        if (v.empty() || v.size() > 15 || v.find_first_not_of("0123456789") != std::string::npos) {
            throw base::InvalidInput("query parameter '" + name +
                                     "' must be a whole number, not '" + v + "'");
        }
        const std::int64_t n = std::stoll(v);
        if (n < min || n > max) {
            throw base::InvalidInput("query parameter '" + name + "' must be from " +
                                     std::to_string(min) + " to " + std::to_string(max));
        }
        return n;
    }
    std::optional<std::string> text(const std::string& name) const {
        const auto it = values_.find(name);
        return it == values_.end() ? std::nullopt : std::optional<std::string>(it->second);
    }

  private:
    std::map<std::string, std::string> values_;
};

[[noreturn]] void wrong_method(const ApiRequest& r, const std::string& allowed) {
    throw ApiError(405, r.method + " is not allowed on " + r.path + " (allowed: " + allowed + ")");
}

}  // namespace

void Api::handle(const ApiRequest& request, Respond respond) {
    const Reply reply = [respond](int status, const nlohmann::json& body) {
        ApiResponse response;
        response.status = status;
        response.json = body;
        respond(response);
    };
    answering_errors(reply, [&] { route(request, respond); });
}

void Api::route(const ApiRequest& r, const Respond& respond) {
    const Reply reply = [respond](int status, const nlohmann::json& body) {
        ApiResponse response;
        response.status = status;
        response.json = body;
        respond(response);
    };
    const auto s = segments(r.path);
    if (s.size() < 2 || s[0] != "v1") {
        throw not_found("no such endpoint: " + r.path + " (the API is under /v1)");
    }
    const std::string& kind = s[1];
    const bool get = r.method == "GET";
    const bool post = r.method == "POST";
    const bool del = r.method == "DELETE";

    if (kind == "health" && s.size() == 2) {
        Query(r.query, {});
        if (!get) {
            wrong_method(r, "GET");
        }
        reply(200, health_());
        return;
    }
    const bool records = s.size() == 3 && s[2] == "records";
    if (kind == "usage" && (s.size() == 2 || records) && usage_ != nullptr) {
        const Query q(
            r.query,
            records ? std::set<std::string>{"instance", "since", "until", "owner", "after", "limit"}
                    : std::set<std::string>{"instance", "since", "until", "by", "owner"});
        if (!get) {
            wrong_method(r, "GET");
        }
        constexpr std::int64_t kMaxMs = std::int64_t{1} << 48;
        UsageQuery u;
        u.instance = q.text("instance");
        if (q.text("since")) {
            u.since_ms = q.number("since", 0, 0, kMaxMs);
        }
        if (q.text("until")) {
            u.until_ms = q.number("until", 0, 0, kMaxMs);
        }
        u.owner = q.text("owner");
        if (records) {
            reply(200,
                  usage_->records(r.caller, u,
                                  q.number("after", 0, 0, std::numeric_limits<std::int64_t>::max()),
                                  q.number("limit", kRecordsPageDefault, 1, kRecordsPageMax)));
            return;
        }
        u.by = q.text("by").value_or("instance");
        reply(200, usage_->report(r.caller, u));
        return;
    }
    if (kind == "images") {
        Query(r.query, {});
        if (s.size() == 2) {
            if (get) {
                reply(200, images_.list(r.caller));
            } else if (post) {
                images_.import(r.caller, r.body, reply);
            } else {
                wrong_method(r, "GET, POST");
            }
            return;
        }
        if (s.size() == 3) {
            if (get) {
                reply(200, images_.get(r.caller, s[2]));
            } else if (del) {
                reply(200, images_.remove(r.caller, s[2]));
            } else {
                wrong_method(r, "GET, DELETE");
            }
            return;
        }
    }
    if (kind == "volumes") {
        Query(r.query, {});
        if (s.size() == 2) {
            if (get) {
                reply(200, volumes_.list(r.caller));
            } else if (post) {
                reply(201, volumes_.create(r.caller, r.body));
            } else {
                wrong_method(r, "GET, POST");
            }
            return;
        }
        if (s.size() == 3) {
            if (get) {
                reply(200, volumes_.get(r.caller, s[2]));
            } else if (del) {
                reply(200, volumes_.remove(r.caller, s[2]));
            } else {
                wrong_method(r, "GET, DELETE");
            }
            return;
        }
        if (s.size() == 4 && (s[3] == "attach" || s[3] == "detach")) {
            if (!post) {
                wrong_method(r, "POST");
            }
            reply(200, s[3] == "attach" ? volumes_.attach(r.caller, s[2], r.body)
                                        : volumes_.detach(r.caller, s[2], r.body));
            return;
        }
    }
    if (kind == "instances") {
        if (s.size() == 2) {
            if (get) {
                Query(r.query, {});
                reply(200, instances_.list(r.caller));
            } else if (post) {
                const Query q(r.query, {"wait"});
                instances_.run(r.caller, r.body, q.flag("wait"), reply);
            } else {
                wrong_method(r, "GET, POST");
            }
            return;
        }
        if (s.size() == 3) {
            Query(r.query, {});
            if (!get) {
                wrong_method(r, "GET");
            }
            reply(200, instances_.get(r.caller, s[2]));
            return;
        }
        if (s.size() == 4) {
            const std::string& action = s[3];
            if (action == "wait") {
                const Query q(r.query, {"state", "timeout_s"});
                if (!get) {
                    wrong_method(r, "GET");
                }
                const auto state = q.text("state");
                if (!state) {
                    throw base::InvalidInput("wait needs ?state=STATE");
                }
                instances_.wait(r.caller, s[2], *state, q.number("timeout_s", 60, 1, 3600), reply);
                return;
            }
            if (action == "console") {
                const Query q(r.query, {"offset"});
                if (!get) {
                    wrong_method(r, "GET");
                }
                const auto chunk = instances_.console(
                    r.caller, s[2], q.number("offset", 0, 0, std::int64_t{1} << 50));
                ApiResponse response;
                response.text = chunk.text;
                response.headers = {{"X-Console-Offset", std::to_string(chunk.next_offset)}};
                respond(response);
                return;
            }
            using Action = void (InstanceService::*)(const Caller&, const std::string&,
                                                     const std::string&, bool, Reply);
            const std::map<std::string, Action> actions = {
                {"start", &InstanceService::start},
                {"stop", &InstanceService::stop},
                {"reboot", &InstanceService::reboot},
                {"terminate", &InstanceService::terminate},
            };
            if (const auto it = actions.find(action); it != actions.end()) {
                const Query q(r.query, {"wait"});
                if (!post) {
                    wrong_method(r, "POST");
                }
                (instances_.*(it->second))(r.caller, s[2], r.body, q.flag("wait"), reply);
                return;
            }
        }
    }
    throw not_found("no such endpoint: " + r.path);
}

}  // namespace supervisor::vmd
