package conf

import (
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Field is one setting met by Walk: a struct field with a TOML name.
type Field struct {
	// Key is the dotted TOML key: "mqtt.keepalive"; an element of an array
	// of tables carries its index ("partners[1].flows") when Walk is given
	// a value, and none when it is given a type (then it reads
	// "partners.flows", as toml.MetaData names keys).
	Key string
	// Name is the last part of Key, the field's TOML name.
	Name string
	// Type is the field's type.
	Type reflect.Type
	// Tag is the field's struct tag (min, max, gt, oneof, ... read by Check).
	Tag reflect.StructTag
	// Value is the field's value; invalid when Walk was given a type.
	Value reflect.Value
}

// Table reports whether the field is a TOML table (a struct other than
// time.Time) or an array of tables (a slice of such structs).
func (f Field) Table() bool {
	return isTable(f.Type) || f.Type.Kind() == reflect.Slice && isTable(f.Type.Elem())
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	timeType     = reflect.TypeFor[time.Time]()
)

func isTable(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct && t != timeType
}

// Walk calls visit for every field of the struct v (a struct value, a
// pointer to one, or a reflect.Type of one) that has a TOML name, parents
// before children. Fields tagged toml:"-" and unexported fields are
// skipped; an embedded struct without a toml tag contributes its fields to
// the parent table, as the TOML decoder does; a field without a toml tag is
// named by its lower-cased Go name. When visit returns false, Walk does not
// descend into that field's table. Tables nest through structs, pointers to
// structs and slices of structs.
//
// Walk is the only reflection over configuration structs: strict decoding
// (known keys, durations), Check (limits) and Diff are built on it.
func Walk(v any, visit func(Field) bool) {
	var rv reflect.Value
	var rt reflect.Type
	if t, ok := v.(reflect.Type); ok {
		rt = t
	} else {
		rv = reflect.ValueOf(v)
		rt = rv.Type()
	}
	for rt.Kind() == reflect.Pointer {
		rt = rt.Elem()
		if rv.IsValid() {
			if rv.IsNil() {
				rv = reflect.Value{}
			} else {
				rv = rv.Elem()
			}
		}
	}
	walkStruct(rt, rv, "", visit)
}

func walkStruct(t reflect.Type, v reflect.Value, prefix string, visit func(Field) bool) {
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("toml"), ",")
		if name == "-" {
			continue
		}
		var fv reflect.Value
		if v.IsValid() {
			fv = v.Field(i)
		}
		if sf.Anonymous && name == "" && sf.Type.Kind() == reflect.Struct {
			walkStruct(sf.Type, fv, prefix, visit)
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		f := Field{Key: prefix + name, Name: name, Type: sf.Type, Tag: sf.Tag, Value: fv}
		if !visit(f) || !f.Table() {
			continue
		}
		walkTable(sf.Type, fv, f.Key, visit)
	}
}

// walkTable descends into the table or array of tables t at key.
func walkTable(t reflect.Type, v reflect.Value, key string, visit func(Field) bool) {
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsValid() {
			if v.IsNil() {
				return
			}
			v = v.Elem()
		}
		walkTable(t.Elem(), v, key, visit)
	case reflect.Struct:
		walkStruct(t, v, key+".", visit)
	case reflect.Slice:
		if !v.IsValid() {
			walkTable(t.Elem(), v, key, visit)
			return
		}
		for i := 0; i < v.Len(); i++ {
			walkTable(t.Elem(), v.Index(i), key+"["+strconv.Itoa(i)+"]", visit)
		}
	}
}

// Diff returns the dotted keys whose values differ between a and b, two
// values of the same struct type, in field order. Tables are compared key
// by key; arrays (also arrays of tables) and maps as a whole. Fields
// without a TOML name (secrets tagged toml:"-") are never compared.
func Diff(a, b any) []string {
	leaves := func(v any) (keys []string, vals []any) {
		Walk(v, func(f Field) bool {
			if isTable(f.Type) {
				return true
			}
			keys, vals = append(keys, f.Key), append(vals, f.Value.Interface())
			return false
		})
		return keys, vals
	}
	ka, va := leaves(a)
	_, vb := leaves(b)
	var out []string
	for i := range ka {
		if !reflect.DeepEqual(va[i], vb[i]) {
			out = append(out, ka[i])
		}
	}
	return out
}
