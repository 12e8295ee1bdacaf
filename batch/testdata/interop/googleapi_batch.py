"""Drive a batch with google-api-python-client's BatchHttpRequest.

Debian's python3-googleapi (google-api-python-client 1.7.12) is a real
client nobody in this project wrote. Usage: googleapi_batch.py BASE_URL.
It sends four calls to BASE_URL/batch/farm/v1 and prints, as one JSON
object, what each callback received.
"""
import json
import sys

import httplib2
from googleapiclient.http import BatchHttpRequest, HttpRequest

base = sys.argv[1]
http = httplib2.Http()
results = {}


def postproc(resp, content):
    return {"status": resp.status, "etag": resp.get("etag", ""), "body": content.decode("utf-8")}


def callback(request_id, response, exception):
    if exception is not None:
        status = getattr(getattr(exception, "resp", None), "status", None)
        results[request_id] = {"error": type(exception).__name__, "status": status}
    else:
        results[request_id] = response


batch = BatchHttpRequest(callback=callback, batch_uri=base + "/batch/farm/v1")
calls = [
    ("pony", HttpRequest(http, postproc, base + "/farm/v1/animals/pony", headers={"authorization": "Bearer py"})),
    ("sheep", HttpRequest(http, postproc, base + "/farm/v1/animals/sheep", method="PUT",
                          body='{"animalName": "sheep"}',
                          headers={"content-type": "application/json", "if-match": '"etag/sheep"'})),
    ("animals", HttpRequest(http, postproc, base + "/farm/v1/animals", headers={"if-none-match": '"etag/animals"'})),
    ("missing", HttpRequest(http, postproc, base + "/farm/v1/nothing?x=1")),
]
for request_id, req in calls:
    batch.add(req, request_id=request_id)
batch.execute(http=http)
json.dump(results, sys.stdout, sort_keys=True)
