# farm_batch.rb: one batch of calls to the demo "farm" API of "mixed serve",
# sent by Google's Ruby client (Debian's ruby-google-api-client,
# Google::Apis::Core::BaseService#batch) the way its generated clients send
# them: a BaseService subclass whose methods build commands with
# make_simple_command and hand them to execute_or_queue_command, and
# request/response classes with JsonRepresentation decorators.
#
#   ruby farm_batch.rb BASE_URL [BATCH_PATH] [CALLS]
#
# BASE_URL is the API's root ("http://127.0.0.1:8080/", or $FARM_BASE_URL),
# BATCH_PATH the batch endpoint relative to it ("batch/farm/v1", or
# $FARM_BATCH_PATH), CALLS the number of calls (120, or $FARM_CALLS; at
# least 6). Call i is, by i:
#
#   0                 PUT  animals/cow   {"animalName":"cow","animalAge":3,"peltColor":"brown"}
#   1                 PUT  animals/sheep (its current content, unchanged)
#   2                 GET  animals/pony  with If-None-Match: "etag/pony"
#   otherwise, i % 3: 0 GET animals/pony?i=I, 1 GET animals/sheep?i=I,
#                     2 GET animals/nobody-I?i=I (absent)
#
# Standard output: one JSON object per callback, in the order the client
# calls them: {"id":I,"result":{...}} (the decoded Animal, re-encoded) or
# {"id":I,"error":"Google::Apis::ClientError","status":404,"body":...}
# (the body parsed as JSON when it is; else its text, or the inspection of
# its bytes when they are not UTF-8, such as a gzip body). The exit status
# is 0 when the batch request itself succeeded, whatever its calls did.

require 'json'
require 'google/apis/core/base_service'
require 'google/apis/core/json_representation'
require 'google/apis/core/hashable'
require 'google/apis/errors'

module Farm
  module V1
    # An animal, as a generated client's classes.rb declares it.
    class Animal
      include Google::Apis::Core::Hashable

      attr_accessor :kind, :etag, :self_link, :animal_name, :animal_age, :pelt_color

      def initialize(**args)
        update!(**args)
      end

      def update!(**args)
        @kind = args[:kind] if args.key?(:kind)
        @etag = args[:etag] if args.key?(:etag)
        @self_link = args[:self_link] if args.key?(:self_link)
        @animal_name = args[:animal_name] if args.key?(:animal_name)
        @animal_age = args[:animal_age] if args.key?(:animal_age)
        @pelt_color = args[:pelt_color] if args.key?(:pelt_color)
      end

      # As representations.rb declares it.
      class Representation < Google::Apis::Core::JsonRepresentation
        property :kind, as: 'kind'
        property :etag, as: 'etag'
        property :self_link, as: 'selfLink'
        property :animal_name, as: 'animalName'
        property :animal_age, as: 'animalAge'
        property :pelt_color, as: 'peltColor'
      end

      include Google::Apis::Core::JsonObjectSupport
    end

    # The service, as a generated client's service.rb declares it.
    class FarmService < Google::Apis::Core::BaseService
      def initialize(root_url, batch_path)
        super(root_url, 'farm/v1/')
        @batch_path = batch_path
      end

      def get_animal(name, i: nil, options: nil, &block)
        command = make_simple_command(:get, 'animals/{name}', options)
        command.response_representation = Farm::V1::Animal::Representation
        command.response_class = Farm::V1::Animal
        command.params['name'] = name unless name.nil?
        command.query['i'] = i unless i.nil?
        execute_or_queue_command(command, &block)
      end

      def update_animal(name, animal_object = nil, options: nil, &block)
        command = make_simple_command(:put, 'animals/{name}', options)
        command.request_representation = Farm::V1::Animal::Representation
        command.request_object = animal_object
        command.response_representation = Farm::V1::Animal::Representation
        command.response_class = Farm::V1::Animal
        command.params['name'] = name unless name.nil?
        execute_or_queue_command(command, &block)
      end
    end
  end
end

base_url = ARGV[0] || ENV['FARM_BASE_URL'] or abort 'usage: ruby farm_batch.rb BASE_URL [BATCH_PATH] [CALLS]'
base_url += '/' unless base_url.end_with?('/')
batch_path = ARGV[1] || ENV['FARM_BATCH_PATH'] || 'batch/farm/v1'
calls = Integer(ARGV[2] || ENV['FARM_CALLS'] || 120)
abort 'farm_batch.rb: CALLS must be at least 6' if calls < 6

service = Farm::V1::FarmService.new(base_url, batch_path)
service.client_options.open_timeout_sec = 10
service.client_options.read_timeout_sec = 30
service.client_options.send_timeout_sec = 30

out = []
record = lambda do |id|
  lambda do |result, err|
    line = { 'id' => id }
    if err
      line['error'] = err.class.name
      line['status'] = err.respond_to?(:status_code) ? err.status_code : nil
      body = err.respond_to?(:body) ? err.body : nil
      line['body'] = begin
        body.nil? || body.empty? ? nil : JSON.parse(body)
      rescue JSON::ParserError
        # Not JSON: the text, or the bytes' inspection when not UTF-8.
        text = body.dup.force_encoding(Encoding::UTF_8)
        text.valid_encoding? ? text : body.b.inspect
      end
    else
      line['result'] = result.nil? ? nil : JSON.parse(result.to_json)
    end
    out << line
  end
end

service.batch do |s|
  calls.times do |i|
    case i
    when 0
      cow = Farm::V1::Animal.new(animal_name: 'cow', animal_age: 3, pelt_color: 'brown')
      s.update_animal('cow', cow, &record.call(i))
    when 1
      sheep = Farm::V1::Animal.new(animal_name: 'sheep', animal_age: 5, pelt_color: 'green')
      s.update_animal('sheep', sheep, &record.call(i))
    when 2
      s.get_animal('pony', options: { header: { 'If-None-Match' => '"etag/pony"' } }, &record.call(i))
    else
      name = ['pony', 'sheep', "nobody-#{i}"][i % 3]
      s.get_animal(name, i: i, &record.call(i))
    end
  end
end

out.each { |line| puts JSON.generate(line) }
