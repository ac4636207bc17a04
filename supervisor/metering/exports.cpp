#include "supervisor/metering/exports.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/fd.h"
#include "supervisor/metering/meters.h"

namespace supervisor::metering {

namespace {

struct Family {
    const char* name;
    const char* help;
};

// The exported name of each meter, in Prometheus' base units.
const std::map<std::string, Family, std::less<>> kFamilies = {
    {std::string(kCpuUs), {"vmd_usage_cpu_seconds_total", "CPU time of the vmm processes"}},
    {std::string(kNetRxBytes),
     {"vmd_usage_network_receive_bytes_total", "Bytes of the frames the guest received"}},
    {std::string(kNetTxBytes),
     {"vmd_usage_network_transmit_bytes_total", "Bytes of the frames the guest sent"}},
    {std::string(kStorageGibMs),
     {"vmd_usage_storage_byte_seconds_total", "Provisioned storage size times time held"}},
    {std::string(kBoots), {"vmd_usage_boots_total", "Boots: starts and reboots"}},
    {std::string(kBootReadyMs),
     {"vmd_usage_boot_ready_seconds_total", "Time from each boot's start to its guest's ready"}},
};

// A label value with \, " and newline escaped as the format requires.
std::string label(const std::string& value) {
    std::string out;
    for (const char c : value) {
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

// n >= 0 in decimal; __int128 has no printf conversion.
std::string decimal(unsigned __int128 n) {
    std::string digits;
    do {
        digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(n % 10)));
        n /= 10;
    } while (n != 0);
    return digits;
}

// n / 10^decimals, exactly, as a decimal ("1.250000"); n >= 0.
std::string fixed(__int128 n, int decimals) {
    std::string digits = decimal(static_cast<unsigned __int128>(n));
    if (decimals == 0) {
        return digits;
    }
    const auto width = static_cast<std::size_t>(decimals) + 1;
    if (digits.size() < width) {
        digits.insert(0, width - digits.size(), '0');
    }
    digits.insert(digits.size() - static_cast<std::size_t>(decimals), 1, '.');
    return digits;
}

std::string value_of(std::string_view meter, std::int64_t quantity) {
    if (meter == kCpuUs) {
        return fixed(quantity, 6);
    }
    if (meter == kStorageGibMs) {
        return fixed(static_cast<__int128>(quantity) * kBytesPerGib, 3);
    }
    if (meter == kBootReadyMs) {
        return fixed(quantity, 3);
    }
    return fixed(quantity, 0);
}

std::string csv_field(const std::string& value) {
    if (value.find_first_of(",\"\r\n") == std::string::npos) {
        return value;
    }
    std::string out = "\"";
    for (const char c : value) {
        out += c;
        if (c == '"') {
            out += '"';
        }
    }
    return out + "\"";
}

std::string optional_field(const std::optional<std::int64_t>& v) {
    return v ? std::to_string(*v) : "";
}

}  // namespace

std::string prometheus_text(const std::vector<Total>& totals) {
    std::map<std::string, std::vector<const Total*>> by_meter;
    for (const Total& t : totals) {
        by_meter[t.meter].push_back(&t);
    }
    std::string out;
    for (const auto& [meter, rows] : by_meter) {
        const auto family = kFamilies.find(meter);
        if (family == kFamilies.end()) {
            continue;  // a meter this build does not know: not exported
        }
        const Family& f = family->second;
        out += std::string("# HELP ") + f.name + " " + f.help + "\n";
        out += std::string("# TYPE ") + f.name + " counter\n";
        for (const Total* t : rows) {
            out += std::string(f.name) + "{owner=\"" + std::to_string(t->owner) + "\",kind=\"" +
                   label(t->kind) + "\",id=\"" + label(t->resource) + "\"} " +
                   value_of(meter, t->quantity) + "\n";
        }
    }
    return out;
}

void write_file_atomically(const std::string& path, const std::string& text) {
    const std::string temporary = path + ".tmp";
    base::Fd fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd.valid()) {
        base::throw_errno("cannot create " + temporary + " (is its directory there and writable?)");
    }
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            base::throw_errno("cannot write " + temporary);
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd.get()) != 0) {
        base::throw_errno("cannot sync " + temporary);
    }
    fd.reset();
    if (::rename(temporary.c_str(), path.c_str()) != 0) {
        base::throw_errno("cannot rename " + temporary + " to " + path);
    }
}

void write_csv(std::ostream& out, const std::vector<UsageRecord>& rows, bool with_header) {
    if (with_header) {
        out << "id,owner,kind,resource,meter,quantity,start_ms,end_ms,process,boot\r\n";
    }
    for (const UsageRecord& r : rows) {
        out << r.id << ',' << r.owner << ',' << csv_field(r.kind) << ',' << csv_field(r.resource)
            << ',' << csv_field(r.meter) << ',' << r.quantity << ',' << r.start_ms << ','
            << r.end_ms << ',' << optional_field(r.process) << ',' << optional_field(r.boot)
            << "\r\n";
    }
}

void write_json_lines(std::ostream& out, const std::vector<UsageRecord>& rows) {
    for (const UsageRecord& r : rows) {
        out << usage_record_json(r).dump() << '\n';
    }
}

nlohmann::json usage_record_json(const UsageRecord& r) {
    nlohmann::json j{{"id", r.id},
                     {"owner", r.owner},
                     {"kind", r.kind},
                     {"resource", r.resource},
                     {"meter", r.meter},
                     {"quantity", r.quantity},
                     {"start_ms", r.start_ms},
                     {"end_ms", r.end_ms},
                     {"process", nullptr},
                     {"boot", nullptr}};
    if (r.process) {
        j["process"] = *r.process;
    }
    if (r.boot) {
        j["boot"] = *r.boot;
    }
    return j;
}

UsageRecord usage_record_from_json(const nlohmann::json& j) {
    const auto optional = [&](const char* key) -> std::optional<std::int64_t> {
        const auto& v = j.at(key);
        return v.is_null() ? std::nullopt : std::optional(v.get<std::int64_t>());
    };
    UsageRecord r;
    r.id = j.at("id").get<std::int64_t>();
    r.owner = j.at("owner").get<Owner>();
    r.kind = j.at("kind").get<std::string>();
    r.resource = j.at("resource").get<std::string>();
    r.meter = j.at("meter").get<std::string>();
    r.quantity = j.at("quantity").get<std::int64_t>();
    r.start_ms = j.at("start_ms").get<Millis>();
    r.end_ms = j.at("end_ms").get<Millis>();
    r.process = optional("process");
    r.boot = optional("boot");
    return r;
}

}  // namespace supervisor::metering
